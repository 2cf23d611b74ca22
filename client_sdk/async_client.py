"""The asynchronous client: :class:`~blindsum.client_sdk.client_core.ClientCore`'s flows
over an :class:`~blindsum.client_sdk.transport.AsyncTransport` (``httpx.AsyncClient``;
``transport=httpx.ASGITransport(app)`` drives an in-process service)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.client_sdk.client_core import ClientCore, ClientState, new_state, refuse_existing
from blindsum.client_sdk.enrollment import enrollment
from blindsum.client_sdk.transport import AsyncTransport
from blindsum.wire import DPEvent, FederationPublic, LedgerRecorded, RoundPublic

__all__ = ["AsyncClient"]


class AsyncClient(ClientCore):
    """:class:`~blindsum.client_sdk.Client`, with every method a coroutine."""

    def __init__(self, state: ClientState, state_file: Path | None = None,
                 **transport_options: Any) -> None:
        super().__init__(state, state_file)
        self.transport = AsyncTransport(state.url, state.token, **transport_options)

    @classmethod
    async def enroll(cls, url: str, federation_id: str, invite_code: str, *,
                     state_file: str | Path | None = None, label: str = "",
                     **transport_options: Any) -> AsyncClient:
        """Spend an invite; the identity key is generated here and never leaves the client."""
        path = Path(state_file) if state_file is not None else None
        refuse_existing(path)
        key = cls.new_identity_key()
        async with AsyncTransport(url, **transport_options) as anonymous:
            enrolled = await anonymous.run(enrollment(federation_id, invite_code, key, label))
        client = cls(new_state(url, federation_id, enrolled.client_id, enrolled.token, key),
                     path, **transport_options)
        await client.federation()  # pins the security settings at enrollment
        client._save()
        return client

    @classmethod
    def load(cls, state_file: str | Path, **transport_options: Any) -> AsyncClient:
        path = Path(state_file)
        return cls(ClientState.load(path), path, **transport_options)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def federation(self) -> FederationPublic:
        return await self.transport.run(self.federation_flow())

    async def roster(self) -> dict[int, bytes]:
        return await self.transport.run(self.roster_flow())

    async def next_round(self, *, timeout: float = 3600.0) -> RoundPublic:
        return await self.transport.run(self.next_round_flow(timeout=timeout))

    async def report_dp_event(self, round_: RoundPublic,
                              event: DPEvent | Mapping[str, Any]) -> LedgerRecorded:
        return await self.transport.run(self.report_dp_event_flow(round_, event))

    async def submit(self, update: np.ndarray, round_: RoundPublic, *,
                     dp_event: DPEvent | Mapping[str, Any] | None = None,
                     timeout: float = 3600.0) -> RoundPublic:
        return await self.transport.run(self.submit_flow(update, round_, dp_event=dp_event,
                                                         timeout=timeout))

    async def global_adapter(self) -> np.ndarray:
        return await self.transport.run(self.vector_flow("global"))

    async def client_level_epsilon(self, extra: list[dict[str, float]] | None = None) -> float:
        return await self.transport.run(self.client_level_epsilon_flow(extra))

    async def result(self, round_id: str, *, average: bool = False) -> np.ndarray:
        kind = "average" if average else "sum"
        return await self.transport.run(self.vector_flow(f"rounds/{round_id}/result/{kind}"))
