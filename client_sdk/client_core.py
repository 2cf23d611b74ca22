"""What the sync :class:`~blindsum.client_sdk.Client` and the
:class:`~blindsum.client_sdk.AsyncClient` share: the state file, and every client flow
(:mod:`blindsum.client_sdk.flows`) with no I/O of its own.

The state file holds the identity key and the bearer token: it is JSON (never pickle),
written atomically with mode 0600, and refused if others can read it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from blindsum.accounting import distributed_dg_epsilon
from blindsum.client_sdk.ckks_driver import CkksRound
from blindsum.client_sdk.flows import Call, Flow, Sleep
from blindsum.client_sdk.secagg_driver import SecAggRound
from blindsum.client_sdk.state_files import (
    check_writable,
    read_private_json,
    write_json_atomically,
)
from blindsum.client_sdk.threshold import (
    checked_custodians,
    custodians_flow,
    key_context,
    key_max_age,
)
from blindsum.client_sdk.transport import LONG_POLL_SECONDS
from blindsum.crypto import base64url
from blindsum.crypto.clipping import clip_to_norm
from blindsum.crypto.dp_events import sign_event
from blindsum.crypto.identity import generate_identity_key
from blindsum.crypto.secagg.distributed_dp import DDGParams
from blindsum.crypto.secagg.stages import TERMINAL
from blindsum.errors import (
    BudgetExhaustedError,
    ConfigError,
    NotFoundError,
    ProtocolError,
    ServiceUnavailableError,
)
from blindsum.wire import DPEvent, FederationPublic, LedgerRecorded, RoundPublic
from blindsum.wire.base import received

__all__ = ["PINNED_SETTINGS", "ClientCore", "ClientState", "new_state"]

STATE_VERSION = 1
PINNED_SETTINGS = ("mode", "dropout_rate", "corruption_rate", "min_clients", "client_dp",
                   "delta", "epsilon_budget", "custody", "custodians", "custodian_threshold")
"""The federation settings a client's protection and its privacy figures rest on: kept in
the state file when it first sees them, and any later change is refused (a server cannot
quietly weaken them, nor raise delta or the budget to make a spend read smaller). A pin
from an older SDK gains the settings it lacks the first time it sees them."""
FINISHED = frozenset(stage.value for stage in TERMINAL)
POLL_SECONDS = 1.0
"""How often to look again for a round when none is open."""


@dataclass
class ClientState:
    """What a client must keep between runs (and nothing else)."""

    url: str
    federation_id: str
    client_id: int
    token: str
    identity_key: str  # raw Ed25519 private key, base64url
    last_round: int = 0
    client_dp_rounds: int = 0  # rounds this client sent a distributed-DP update in
    client_dp_terms: list[dict[str, float]] = field(default_factory=list)  # per such round
    federation_pin: dict[str, Any] | None = None  # PINNED_SETTINGS as first seen
    custodian_pin: list[dict[str, Any]] | None = None  # threshold custody: roster first seen
    used_rounds: list[str] = field(default_factory=list)  # ids of rounds it took part in
    version: int = STATE_VERSION

    def save(self, path: Path) -> None:
        """Atomically replace ``path`` with this state, readable by the owner only."""
        write_json_atomically(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> ClientState:
        data = read_private_json(path, "a blindsum client state file")
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ConfigError(f"{path} is not a blindsum client state file (version "
                              f"{STATE_VERSION})")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def new_state(url: str, federation_id: str, client_id: int, token: str,
              key: Ed25519PrivateKey) -> ClientState:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return ClientState(url=url.rstrip("/"), federation_id=federation_id, client_id=client_id,
                       token=token, identity_key=base64url.encode(raw))


def refuse_existing(path: Path | None) -> None:
    """Before an invite is spent: the state file must be new and writable."""
    if path is not None:
        check_writable(path)


class ClientCore:
    """An enrolled client's state and flows; the front-ends only run the flows."""

    new_identity_key = staticmethod(generate_identity_key)

    def __init__(self, state: ClientState, state_file: Path | None = None) -> None:
        self.state = state
        self.state_file = state_file
        raw = base64url.decode(state.identity_key, size=32, what="the state file's identity_key")
        self.identity_key = Ed25519PrivateKey.from_private_bytes(raw)
        self._federation: FederationPublic | None = None
        self.last_upload_bytes = 0

    @property
    def client_id(self) -> int:
        return self.state.client_id

    @property
    def _base(self) -> str:
        return f"/v1/federations/{self.state.federation_id}"

    def _save(self) -> None:
        if self.state_file is not None:
            self.state.save(self.state_file)

    def federation_flow(self) -> Flow[FederationPublic]:
        """The federation's settings, checked against the pin (see :data:`PINNED_SETTINGS`)."""
        if self._federation is None:
            reply = yield Call("GET", self._base)
            assert reply is not None
            live = received(FederationPublic, reply.json(), "the federation")
            seen = live.model_dump(mode="json", include=set(PINNED_SETTINGS))
            pinned = self.state.federation_pin
            if pinned is None or set(pinned) != set(seen):
                old = pinned or {}
                pinned = {key: old.get(key, seen[key]) for key in PINNED_SETTINGS}
                self.state.federation_pin = pinned
                self._save()
            if pinned != seen:
                changed = sorted(k for k in PINNED_SETTINGS if pinned.get(k) != seen.get(k))
                raise ConfigError(
                    "the federation's security settings changed since this client pinned them "
                    f"({', '.join(changed)}); refusing to take part. If the change is genuine, "
                    "enroll again with a new invite")
            self._federation = live
        return self._federation

    def roster_flow(self) -> Flow[dict[int, bytes]]:
        reply = yield Call("GET", f"{self._base}/roster")
        assert reply is not None
        return {int(r["client_id"]): base64url.decode(r["identity_key"], size=32,
                                                      what="a roster identity_key")
                for r in reply.json()}

    def custodian_roster_flow(self, federation: FederationPublic
                              ) -> Flow[list[dict[str, Any]]]:
        """The custodians' public keys, pinned on first sight (see :mod:`.threshold`)."""
        live = yield from custodians_flow(self.state.federation_id)
        pinned = checked_custodians(live, self.state.custodian_pin, federation.custodians)
        if self.state.custodian_pin is None:
            self.state.custodian_pin = pinned
            self._save()
        return pinned

    def next_round_flow(self, *, timeout: float = 3600.0) -> Flow[RoundPublic]:
        """A round newer than the last one this client took part in, that includes it."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                reply = yield Call("GET", f"{self._base}/rounds/current")
                assert reply is not None
                current: RoundPublic | None = received(RoundPublic, reply.json(), "a round")
            except NotFoundError:  # no round yet
                current = None
            if (current is not None and current.number > self.state.last_round
                    and self.client_id in current.participants
                    and current.stage not in FINISHED):
                return current
            if time.monotonic() >= give_up:
                raise ServiceUnavailableError(f"no new round opened within {timeout:.0f} s")
            if current is not None and current.stage not in FINISHED:
                wait = min(LONG_POLL_SECONDS, max(0.0, give_up - time.monotonic()))
                yield Call("GET", f"{self._base}/rounds/current", timeout=wait + 30,
                           params={"after": current.stage, "wait": wait})
            else:
                yield Sleep(POLL_SECONDS)

    def report_dp_event_flow(self, round_: RoundPublic,
                             event: DPEvent | Mapping[str, Any]) -> Flow[LedgerRecorded]:
        """Sign and send the round's DP event to the privacy ledger; what it recorded
        (including the server's own recomputation of epsilon)."""
        event = DPEvent.from_json(event)
        signature = sign_event(self.identity_key, self.state.federation_id, round_.id,
                               self.client_id, event.canonical())
        reply = yield Call("POST", f"{self._base}/rounds/{round_.id}/dp-event",
                           json={"event": event.to_json(),
                                 "signature": base64url.encode(signature)})
        assert reply is not None
        return received(LedgerRecorded, reply.json(), "the ledger's record")

    def submit_flow(self, update: np.ndarray, round_: RoundPublic, *,
                    dp_event: DPEvent | Mapping[str, Any] | None = None,
                    timeout: float = 3600.0) -> Flow[RoundPublic]:
        """Protect ``update`` (flat, in the federation's parameter order) and take part in the
        round to its end; the closed round (its ``contributors`` included). ``dp_event``
        (``LocalUpdate.event``) goes to the privacy ledger first."""
        federation = yield from self.federation_flow()
        x = self._checked_update(update, federation)
        if dp_event is not None:
            yield from self.report_dp_event_flow(round_, dp_event)
        protocol: SecAggRound | CkksRound
        if federation.mode == "secagg":
            protocol = SecAggRound(self.state.federation_id, round_,
                                   client_id=self.client_id, identity_key=self.identity_key,
                                   roster=(yield from self.roster_flow()), federation=federation)
            if protocol.ddg is not None:
                yield from self._check_client_level_budget(protocol.ddg)
        else:
            custody = None
            if federation.custody == "threshold":
                custody = key_context(federation, round_,
                                      (yield from self.custodian_roster_flow(federation)))
            protocol = CkksRound(self.state.federation_id, round_, client_id=self.client_id,
                                 identity_key=self.identity_key, custody=custody,
                                 key_max_age=key_max_age(federation))
        if round_.id in self.state.used_rounds:
            raise ProtocolError(f"this client already took part in round {round_.id}; a "
                                "server announcing it again is refused (its key is old)")
        self.state.used_rounds.append(round_.id)
        self.state.last_round = max(self.state.last_round, round_.number)
        if isinstance(protocol, SecAggRound) and protocol.ddg is not None:
            self.state.client_dp_rounds += 1  # counted before sending: never undercounted
            self.state.client_dp_terms.append(protocol.ddg.accounting_terms())
        self._save()
        self.last_upload_bytes = 0
        try:
            return (yield from protocol.run(x, timeout=timeout))
        finally:
            self.last_upload_bytes = protocol.uploaded_bytes

    @staticmethod
    def _checked_update(update: np.ndarray, federation: FederationPublic) -> np.ndarray:
        x = np.asarray(update, dtype=np.float64).ravel()
        if x.size != federation.dimension:
            raise ConfigError(f"the update has {x.size} values; this federation's spec has "
                              f"{federation.dimension} (check the parameter order and shapes)")
        if not np.all(np.isfinite(x)):
            raise ConfigError("the update contains NaN or infinity; refusing to send it")
        return clip_to_norm(x, federation.clip_norm)

    def vector_flow(self, path: str) -> Flow[np.ndarray]:
        """A float64 little-endian vector the server publishes (the global adapter, a sum)."""
        reply = yield Call("GET", f"{self._base}/{path}")
        assert reply is not None
        return np.frombuffer(reply.content, dtype="<f8").copy()

    def client_level_epsilon_flow(self, extra: list[dict[str, float]] | None = None
                                  ) -> Flow[float]:
        """This client's client-level epsilon under the federation's distributed DP: Kairouz
        et al.'s bound over every round it sent an update in (kept in the state file), as
        the server's ledger computes it; ``extra`` adds rounds not sent yet."""
        federation = yield from self.federation_flow()
        if federation.client_dp is None:
            return 0.0
        if len(self.state.client_dp_terms) < self.state.client_dp_rounds:
            return math.inf  # a state file from before the terms were kept: unknown
        return distributed_dg_epsilon([*self.state.client_dp_terms, *(extra or [])],
                                      federation.delta)

    def _check_client_level_budget(self, ddg: DDGParams) -> Flow[None]:
        federation = yield from self.federation_flow()
        after = yield from self.client_level_epsilon_flow(extra=[ddg.accounting_terms()])
        if after > federation.epsilon_budget:
            raise BudgetExhaustedError(
                f"this round would bring this client's client-level epsilon to {after:.3f}, over "
                f"the federation's budget of {federation.epsilon_budget}; it must stop here")
