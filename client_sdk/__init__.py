"""The Python SDK organisations install: HTTP client, protocol drivers, DP-LoRA trainer."""

from blindsum.client_sdk.admin import Admin, AsyncAdmin
from blindsum.client_sdk.async_client import AsyncClient
from blindsum.client_sdk.client import Client, ClientState
from blindsum.client_sdk.custodian import AsyncCustodian, Custodian, CustodianState

__all__ = ["Admin", "AsyncAdmin", "AsyncClient", "AsyncCustodian", "Client", "ClientState",
           "Custodian", "CustodianState"]
