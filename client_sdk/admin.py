"""The federation administrator's side of the SDK: federations, invites, rounds, results.

Each operation is a flow (:mod:`blindsum.client_sdk.flows`) of :class:`AdminCore`;
:class:`Admin` runs them synchronously and :class:`AsyncAdmin` asynchronously.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from blindsum.client_sdk.flows import Call, Flow
from blindsum.client_sdk.transport import AsyncTransport, Transport
from blindsum.errors import ConfigError
from blindsum.wire import (
    ClientPublic,
    FederationCreate,
    FederationPublic,
    ParameterSpec,
    RoundPublic,
)
from blindsum.wire.base import describe, received

__all__ = ["Admin", "AdminCore", "AsyncAdmin"]

_OCTETS = {"Content-Type": "application/octet-stream"}


def _json(reply: Any) -> Any:
    assert reply is not None
    return reply.json()


def _federation(reply: Any) -> FederationPublic:
    return received(FederationPublic, _json(reply), "a federation")


def _round(reply: Any) -> RoundPublic:
    return received(RoundPublic, _json(reply), "a round")


def _vector(reply: Any) -> np.ndarray:
    assert reply is not None
    return np.frombuffer(reply.content, dtype="<f8").copy()


class AdminCore:
    """Everything the admin token allows, as flows (no I/O here)."""

    @staticmethod
    def create_federation_flow(name: str, mode: str,
                               parameters: list[tuple[str, tuple[int, ...]]],
                               **settings: Any) -> Flow[FederationPublic]:
        """``parameters`` are (name, shape) in the order clients flatten their update;
        ``settings`` are :class:`~blindsum.wire.FederationCreate`'s other fields, checked
        here before anything is sent."""
        try:
            body = FederationCreate(name=name, mode=mode, parameters=[  # type: ignore[arg-type]
                ParameterSpec(name=n, shape=list(s)) for n, s in parameters], **settings)
        except ValidationError as exc:
            raise ConfigError(f"invalid federation settings ({describe(exc)})") from None
        return _federation((yield Call("POST", "/v1/federations", json=body.model_dump(
            mode="json", exclude_unset=True))))

    @staticmethod
    def federation_flow(federation_id: str) -> Flow[FederationPublic]:
        return _federation((yield Call("GET", f"/v1/federations/{federation_id}")))

    @staticmethod
    def invite_flow(federation_id: str, label: str = "", role: str = "client") -> Flow[str]:
        """A one-time invite code to hand to one organisation, out of band: for its client,
        or (``role="custodian"``) for its key custodian."""
        reply = yield Call("POST", f"/v1/federations/{federation_id}/invites",
                           json={"label": label, "role": role})
        return str(_json(reply)["code"])

    @staticmethod
    def clients_flow(federation_id: str) -> Flow[list[ClientPublic]]:
        listed = _json((yield Call("GET", f"/v1/federations/{federation_id}/clients")))
        return [received(ClientPublic, c, "an enrolled client") for c in listed]

    @staticmethod
    def open_round_flow(federation_id: str) -> Flow[RoundPublic]:
        return _round((yield Call("POST", f"/v1/federations/{federation_id}/rounds")))

    @staticmethod
    def round_flow(federation_id: str, round_id: str, *, after: str | None = None,
                   wait: float = 0.0) -> Flow[RoundPublic]:
        params: dict[str, Any] = {"wait": wait} | ({"after": after} if after else {})
        return _round((yield Call("GET", f"/v1/federations/{federation_id}/rounds/{round_id}",
                                  params=params, timeout=wait + 30)))

    @staticmethod
    def close_stage_flow(federation_id: str, round_id: str) -> Flow[RoundPublic]:
        """End the round's current stage now (as its deadline would)."""
        return _round((yield Call("POST", f"/v1/federations/{federation_id}/rounds/{round_id}"
                                          "/close")))

    @staticmethod
    def abort_flow(federation_id: str, round_id: str) -> Flow[RoundPublic]:
        return _round((yield Call("POST", f"/v1/federations/{federation_id}/rounds/{round_id}"
                                          "/abort")))

    @staticmethod
    def global_adapter_flow(federation_id: str) -> Flow[np.ndarray]:
        return _vector((yield Call("GET", f"/v1/federations/{federation_id}/global")))

    @staticmethod
    def set_global_adapter_flow(federation_id: str, values: np.ndarray) -> Flow[None]:
        """The starting adapter (e.g. plain LoRA's shared A); refused once a round closed."""
        data = np.ascontiguousarray(values, dtype="<f8").tobytes()
        yield Call("PUT", f"/v1/federations/{federation_id}/global", content=data,
                   headers=_OCTETS)

    @staticmethod
    def privacy_report_flow(federation_id: str, *, html: bool = False) -> Flow[Any]:
        """The federation's privacy report: a dict (schema blindsum.privacy-report/v1) or HTML."""
        reply = yield Call("GET", f"/v1/federations/{federation_id}/privacy-report",
                           params={"format": "html" if html else "json"})
        assert reply is not None
        return reply.text if html else reply.json()

    @staticmethod
    def result_flow(federation_id: str, round_id: str, *,
                    average: bool = False) -> Flow[np.ndarray]:
        """The closed round's sum (or average over its contributors), float64."""
        kind = "average" if average else "sum"
        return _vector((yield Call("GET", f"/v1/federations/{federation_id}/rounds/{round_id}"
                                          f"/result/{kind}")))


class Admin(AdminCore):
    """``Admin(url, token)``: every admin operation, run over a synchronous transport."""

    def __init__(self, base_url: str, token: str, **transport_options: Any) -> None:
        self.transport = Transport(base_url, token, **transport_options)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_federation(self, name: str, mode: str,
                          parameters: list[tuple[str, tuple[int, ...]]],
                          **settings: Any) -> FederationPublic:
        return self.transport.run(self.create_federation_flow(name, mode, parameters,
                                                              **settings))

    def federation(self, federation_id: str) -> FederationPublic:
        return self.transport.run(self.federation_flow(federation_id))

    def invite(self, federation_id: str, label: str = "", role: str = "client") -> str:
        return self.transport.run(self.invite_flow(federation_id, label, role))

    def clients(self, federation_id: str) -> list[ClientPublic]:
        return self.transport.run(self.clients_flow(federation_id))

    def open_round(self, federation_id: str) -> RoundPublic:
        return self.transport.run(self.open_round_flow(federation_id))

    def round(self, federation_id: str, round_id: str, *, after: str | None = None,
              wait: float = 0.0) -> RoundPublic:
        return self.transport.run(self.round_flow(federation_id, round_id, after=after,
                                                  wait=wait))

    def close_stage(self, federation_id: str, round_id: str) -> RoundPublic:
        return self.transport.run(self.close_stage_flow(federation_id, round_id))

    def abort(self, federation_id: str, round_id: str) -> RoundPublic:
        return self.transport.run(self.abort_flow(federation_id, round_id))

    def global_adapter(self, federation_id: str) -> np.ndarray:
        return self.transport.run(self.global_adapter_flow(federation_id))

    def set_global_adapter(self, federation_id: str, values: np.ndarray) -> None:
        self.transport.run(self.set_global_adapter_flow(federation_id, values))

    def privacy_report(self, federation_id: str, *, html: bool = False) -> Any:
        return self.transport.run(self.privacy_report_flow(federation_id, html=html))

    def result(self, federation_id: str, round_id: str, *, average: bool = False) -> np.ndarray:
        return self.transport.run(self.result_flow(federation_id, round_id, average=average))


class AsyncAdmin(AdminCore):
    """:class:`Admin` with every operation a coroutine (any httpx async transport)."""

    def __init__(self, base_url: str, token: str, **transport_options: Any) -> None:
        self.transport = AsyncTransport(base_url, token, **transport_options)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def create_federation(self, name: str, mode: str,
                                parameters: list[tuple[str, tuple[int, ...]]],
                                **settings: Any) -> FederationPublic:
        return await self.transport.run(self.create_federation_flow(name, mode, parameters,
                                                                    **settings))

    async def federation(self, federation_id: str) -> FederationPublic:
        return await self.transport.run(self.federation_flow(federation_id))

    async def invite(self, federation_id: str, label: str = "", role: str = "client") -> str:
        return await self.transport.run(self.invite_flow(federation_id, label, role))

    async def clients(self, federation_id: str) -> list[ClientPublic]:
        return await self.transport.run(self.clients_flow(federation_id))

    async def open_round(self, federation_id: str) -> RoundPublic:
        return await self.transport.run(self.open_round_flow(federation_id))

    async def round(self, federation_id: str, round_id: str, *, after: str | None = None,
                    wait: float = 0.0) -> RoundPublic:
        return await self.transport.run(self.round_flow(federation_id, round_id, after=after,
                                                        wait=wait))

    async def close_stage(self, federation_id: str, round_id: str) -> RoundPublic:
        return await self.transport.run(self.close_stage_flow(federation_id, round_id))

    async def abort(self, federation_id: str, round_id: str) -> RoundPublic:
        return await self.transport.run(self.abort_flow(federation_id, round_id))

    async def global_adapter(self, federation_id: str) -> np.ndarray:
        return await self.transport.run(self.global_adapter_flow(federation_id))

    async def set_global_adapter(self, federation_id: str, values: np.ndarray) -> None:
        await self.transport.run(self.set_global_adapter_flow(federation_id, values))

    async def privacy_report(self, federation_id: str, *, html: bool = False) -> Any:
        return await self.transport.run(self.privacy_report_flow(federation_id, html=html))

    async def result(self, federation_id: str, round_id: str, *,
                     average: bool = False) -> np.ndarray:
        return await self.transport.run(self.result_flow(federation_id, round_id,
                                                         average=average))
