"""Key custodians over a transport: :class:`Custodian` (synchronous, as
``blindsum custodian run`` uses it) and :class:`AsyncCustodian` (``httpx.AsyncClient``;
``transport=httpx.ASGITransport(app)`` serves an in-process service). Both run
:class:`~blindsum.client_sdk.custodian_core.CustodianCore`'s flows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from blindsum.client_sdk.custodian_core import CustodianCore, CustodianState, new_custodian_state
from blindsum.client_sdk.state_files import check_writable
from blindsum.client_sdk.transport import AsyncTransport, Transport
from blindsum.crypto.identity import generate_exchange_key, generate_identity_key
from blindsum.errors import BlindsumError
from blindsum.wire import RoundPublic

__all__ = ["AsyncCustodian", "Custodian", "CustodianCore", "CustodianState"]


def _refuse_existing(path: Path | None) -> None:
    """Before the invite is spent: the state file must be new and writable."""
    if path is not None:
        check_writable(path)


class Custodian(CustodianCore):
    """A custodian over a synchronous transport. Create with :meth:`enroll` (once) or
    :meth:`load`; :meth:`serve` follows the federation's rounds."""

    def __init__(self, state: CustodianState, state_file: Path | None = None,
                 **transport_options: Any) -> None:
        super().__init__(state, state_file)
        self.transport = Transport(state.url, state.token, **transport_options)

    @classmethod
    def enroll(cls, url: str, federation_id: str, invite_code: str, *,
               state_file: str | Path | None = None, label: str = "",
               **transport_options: Any) -> Custodian:
        """Spend a custodian invite; the keys are generated here and never leave."""
        path = Path(state_file) if state_file is not None else None
        _refuse_existing(path)
        identity, exchange = generate_identity_key(), generate_exchange_key()
        with Transport(url, **transport_options) as anonymous:
            enrolled = anonymous.run(cls.enrollment_flow(federation_id, invite_code, identity,
                                                         exchange, label))
        custodian = cls(new_custodian_state(url, federation_id, enrolled, identity, exchange),
                        path, **transport_options)
        custodian._save()
        return custodian

    @classmethod
    def load(cls, state_file: str | Path, **transport_options: Any) -> Custodian:
        path = Path(state_file)
        return cls(CustodianState.load(path), path, **transport_options)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Custodian:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def serve_round(self, round_: RoundPublic, *, timeout: float = 3600.0) -> RoundPublic:
        return self.transport.run(self.serve_round_flow(round_, timeout=timeout))

    def serve(self, *, rounds: int | None = None, timeout: float = 3600.0,
              on_failure: Callable[[RoundPublic, BlindsumError], None] | None = None) -> int:
        """Serve rounds as they open (``rounds`` of them, or until stopped); how many. A
        round that fails (another party broke it, the service went away) is reported to
        ``on_failure`` and the custodian goes on with the next one. First drops the key
        shares of rounds that ended while it was down."""
        self.transport.run(self.purge_flow())
        served = 0
        while rounds is None or served < rounds:
            round_ = self.transport.run(self.next_round_flow(timeout=timeout))
            try:
                self.serve_round(round_, timeout=timeout)
            except BlindsumError as exc:
                self.round_failed(round_, exc, on_failure)
            served += 1
        return served


class AsyncCustodian(CustodianCore):
    """:class:`Custodian`, with every method a coroutine."""

    def __init__(self, state: CustodianState, state_file: Path | None = None,
                 **transport_options: Any) -> None:
        super().__init__(state, state_file)
        self.transport = AsyncTransport(state.url, state.token, **transport_options)

    @classmethod
    async def enroll(cls, url: str, federation_id: str, invite_code: str, *,
                     state_file: str | Path | None = None, label: str = "",
                     **transport_options: Any) -> AsyncCustodian:
        """Spend a custodian invite; the keys are generated here and never leave."""
        path = Path(state_file) if state_file is not None else None
        _refuse_existing(path)
        identity, exchange = generate_identity_key(), generate_exchange_key()
        async with AsyncTransport(url, **transport_options) as anonymous:
            enrolled = await anonymous.run(cls.enrollment_flow(federation_id, invite_code,
                                                               identity, exchange, label))
        custodian = cls(new_custodian_state(url, federation_id, enrolled, identity, exchange),
                        path, **transport_options)
        custodian._save()
        return custodian

    @classmethod
    def load(cls, state_file: str | Path, **transport_options: Any) -> AsyncCustodian:
        path = Path(state_file)
        return cls(CustodianState.load(path), path, **transport_options)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncCustodian:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def serve_round(self, round_: RoundPublic, *, timeout: float = 3600.0) -> RoundPublic:
        return await self.transport.run(self.serve_round_flow(round_, timeout=timeout))

    async def serve(self, *, rounds: int | None = None, timeout: float = 3600.0,
                    on_failure: Callable[[RoundPublic, BlindsumError], None] | None = None
                    ) -> int:
        await self.transport.run(self.purge_flow())
        served = 0
        while rounds is None or served < rounds:
            round_ = await self.transport.run(self.next_round_flow(timeout=timeout))
            try:
                await self.serve_round(round_, timeout=timeout)
            except BlindsumError as exc:
                self.round_failed(round_, exc, on_failure)
            served += 1
        return served
