"""One organisation's membership of one federation: enroll once, then take part in rounds.

::

    client = Client.enroll(url, federation_id, invite_code, state_file="site-a.json")
    # later, or in another process: client = Client.load("site-a.json")
    round_ = client.next_round()
    client.submit(update, round_)          # runs SecAgg+ or CKKS, whichever the federation uses
    mean = client.result(round_.id, average=True)

Every method runs a flow of :class:`~blindsum.client_sdk.client_core.ClientCore` over a
synchronous :class:`~blindsum.client_sdk.transport.Transport`;
:class:`~blindsum.client_sdk.AsyncClient` runs the same flows asynchronously.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.client_sdk.client_core import (
    PINNED_SETTINGS,
    ClientCore,
    ClientState,
    new_state,
    refuse_existing,
)
from blindsum.client_sdk.enrollment import enrollment
from blindsum.client_sdk.transport import Transport
from blindsum.wire import DPEvent, FederationPublic, LedgerRecorded, RoundPublic

__all__ = ["PINNED_SETTINGS", "Client", "ClientState"]


class Client(ClientCore):
    """An enrolled client. Create with :meth:`enroll` (once) or :meth:`load`; any httpx
    transport can be given as ``transport=``."""

    def __init__(self, state: ClientState, state_file: Path | None = None,
                 **transport_options: Any) -> None:
        super().__init__(state, state_file)
        self.transport = Transport(state.url, state.token, **transport_options)

    @classmethod
    def enroll(cls, url: str, federation_id: str, invite_code: str, *,
               state_file: str | Path | None = None, label: str = "",
               **transport_options: Any) -> Client:
        """Spend an invite; the identity key is generated here and never leaves the client."""
        path = Path(state_file) if state_file is not None else None
        refuse_existing(path)
        key = cls.new_identity_key()
        with Transport(url, **transport_options) as anonymous:
            enrolled = anonymous.run(enrollment(federation_id, invite_code, key, label))
        client = cls(new_state(url, federation_id, enrolled.client_id, enrolled.token, key),
                     path, **transport_options)
        client.federation()  # pins the security settings at enrollment (and saves the state)
        client._save()
        return client

    @classmethod
    def load(cls, state_file: str | Path, **transport_options: Any) -> Client:
        path = Path(state_file)
        return cls(ClientState.load(path), path, **transport_options)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def federation(self) -> FederationPublic:
        """The federation's settings: mode, parameter names and shapes, clip norm, budget.

        Raises:
            ConfigError: a setting in ``PINNED_SETTINGS`` differs from the value this client
                pinned when it first saw the federation.
        """
        return self.transport.run(self.federation_flow())

    def roster(self) -> dict[int, bytes]:
        return self.transport.run(self.roster_flow())

    def next_round(self, *, timeout: float = 3600.0) -> RoundPublic:
        """Wait for a round newer than the last one this client took part in, that includes it."""
        return self.transport.run(self.next_round_flow(timeout=timeout))

    def report_dp_event(self, round_: RoundPublic,
                        event: DPEvent | Mapping[str, Any]) -> LedgerRecorded:
        """Sign and send the round's DP event to the privacy ledger; returns what it recorded."""
        return self.transport.run(self.report_dp_event_flow(round_, event))

    def submit(self, update: np.ndarray, round_: RoundPublic, *,
               dp_event: DPEvent | Mapping[str, Any] | None = None,
               timeout: float = 3600.0) -> RoundPublic:
        """Protect ``update`` and take part in the round to its end (see
        :meth:`ClientCore.submit_flow`); returns the closed round."""
        return self.transport.run(self.submit_flow(update, round_, dp_event=dp_event,
                                                   timeout=timeout))

    def global_adapter(self) -> np.ndarray:
        """The federation's global adapter after every closed round (float64, spec order)."""
        return self.transport.run(self.vector_flow("global"))

    def client_level_epsilon(self, extra: list[dict[str, float]] | None = None) -> float:
        """This client's client-level epsilon (see :meth:`ClientCore.client_level_epsilon_flow`)."""
        return self.transport.run(self.client_level_epsilon_flow(extra))

    def result(self, round_id: str, *, average: bool = False) -> np.ndarray:
        """The closed round's sum, or its average over the contributors (float64)."""
        kind = "average" if average else "sum"
        return self.transport.run(self.vector_flow(f"rounds/{round_id}/result/{kind}"))
