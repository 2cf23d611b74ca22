"""One organisation's membership of one federation: enroll once, then take part in rounds.

::

    client = Client.enroll(url, federation_id, invite_code, state_file="site-a.json")
    # later, or in another process: client = Client.load("site-a.json")
    round_ = client.next_round()
    client.submit(update, round_)          # runs SecAgg+ or CKKS, whichever the federation uses
    mean = client.result(round_["id"], average=True)

The state file holds the identity key and the bearer token: it is JSON (never
pickle), written atomically with mode 0600, and refused if others can read it.
"""

from __future__ import annotations

import json
import math
import stat
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from blindsum.accounting import distributed_dg_epsilon
from blindsum.client_sdk.ckks_driver import CkksDriver
from blindsum.client_sdk.enrollment import enroll_with_invite
from blindsum.client_sdk.secagg_driver import SecAggDriver
from blindsum.client_sdk.state_files import write_json_atomically
from blindsum.client_sdk.transport import LONG_POLL_SECONDS, Transport
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
    ServiceUnavailableError,
)
from blindsum.wire import DPEvent

__all__ = ["Client", "ClientState"]

STATE_VERSION = 1
PINNED_SETTINGS = ("mode", "dropout_rate", "corruption_rate", "min_clients", "client_dp",
                   "delta", "epsilon_budget")
"""The federation settings a client's protection and its privacy figures rest on: kept in
the state file when it first sees them, and any later change is refused (a server cannot
quietly weaken them, nor raise delta or the budget to make a spend read smaller). A pin
from an older SDK gains the settings it lacks the first time it sees them."""
FINISHED = frozenset(stage.value for stage in TERMINAL)


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
    version: int = STATE_VERSION

    def save(self, path: Path) -> None:
        """Atomically replace ``path`` with this state, readable by the owner only."""
        write_json_atomically(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> ClientState:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path} holds a private key and token but others may read it; "
                              f"run: chmod 600 {path}")
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ConfigError(f"{path} is not a blindsum client state file (version "
                              f"{STATE_VERSION})")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class Client:
    """An enrolled client. Create with :meth:`enroll` (once) or :meth:`load`."""

    def __init__(self, state: ClientState, state_file: Path | None = None,
                 **transport_options: Any) -> None:
        self.state = state
        self.state_file = state_file
        self.transport = Transport(state.url, state.token, **transport_options)
        raw = base64url.decode(state.identity_key, size=32, what="the state file's identity_key")
        self.identity_key = Ed25519PrivateKey.from_private_bytes(raw)
        self._federation: dict[str, Any] | None = None
        self.last_upload_bytes = 0

    @classmethod
    def enroll(cls, url: str, federation_id: str, invite_code: str, *,
               state_file: str | Path | None = None, label: str = "",
               **transport_options: Any) -> Client:
        """Spend an invite; the identity key is generated here and never leaves the client."""
        path = Path(state_file) if state_file is not None else None
        if path is not None and path.exists():
            raise ConfigError(f"{path} already exists: load it with Client.load, or choose "
                              "another file (an invite can be used only once)")
        key = generate_identity_key()
        with Transport(url, **transport_options) as anonymous:
            client_id, token = enroll_with_invite(anonymous, federation_id, invite_code, key,
                                                  label)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        state = ClientState(url=url.rstrip("/"), federation_id=federation_id,
                            client_id=client_id, token=token, identity_key=base64url.encode(raw))
        client = cls(state, path, **transport_options)
        client.federation()  # pins the security settings at enrollment (and saves the state)
        if path is not None:
            state.save(path)
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

    @property
    def client_id(self) -> int:
        return self.state.client_id

    @property
    def _base(self) -> str:
        return f"/v1/federations/{self.state.federation_id}"

    def federation(self) -> dict[str, Any]:
        """The federation's settings: mode, parameter names and shapes, clip norm, budget.

        Raises:
            ConfigError: a setting in ``PINNED_SETTINGS`` differs from the value this client
                pinned when it first saw the federation.
        """
        if self._federation is None:
            live = dict(self.transport.get(self._base).json())
            seen = {key: live.get(key) for key in PINNED_SETTINGS}
            pinned = self.state.federation_pin
            if pinned is None or set(pinned) != set(seen):
                old = pinned or {}
                pinned = {key: old.get(key, seen[key]) for key in PINNED_SETTINGS}
                self.state.federation_pin = pinned
                if self.state_file is not None:
                    self.state.save(self.state_file)
            if pinned != seen:
                changed = sorted(k for k in PINNED_SETTINGS if pinned.get(k) != seen.get(k))
                raise ConfigError(
                    "the federation's security settings changed since this client pinned them "
                    f"({', '.join(changed)}); refusing to take part. If the change is genuine, "
                    "enroll again with a new invite")
            self._federation = live
        return self._federation

    def roster(self) -> dict[int, bytes]:
        rows = self.transport.get(f"{self._base}/roster").json()
        return {int(r["client_id"]): base64url.decode(r["identity_key"], size=32,
                                                      what="a roster identity_key")
                for r in rows}

    def next_round(self, *, timeout: float = 3600.0) -> dict[str, Any]:
        """Wait for a round newer than the last one this client took part in, that includes it."""
        give_up = time.monotonic() + timeout
        while True:
            try:
                current = self.transport.get(f"{self._base}/rounds/current").json()
            except NotFoundError:  # no round yet
                current = None
            if (current is not None and current["number"] > self.state.last_round
                    and self.client_id in current["participants"]
                    and current["stage"] not in FINISHED):
                return dict(current)
            if time.monotonic() >= give_up:
                raise ServiceUnavailableError(f"no new round opened within {timeout:.0f} s")
            if current is not None and current["stage"] not in FINISHED:
                wait = min(LONG_POLL_SECONDS, max(0.0, give_up - time.monotonic()))
                self.transport.get(f"{self._base}/rounds/current", timeout=wait + 30,
                                   params={"after": current["stage"], "wait": wait})
            else:
                time.sleep(1.0)

    def report_dp_event(self, round_json: dict[str, Any],
                        event: DPEvent | Mapping[str, Any]) -> dict[str, Any]:
        """Sign and send the round's DP event to the privacy ledger; returns what it recorded
        (including the server's own recomputation of epsilon)."""
        event = DPEvent.from_json(event)
        body = event.canonical()
        signature = sign_event(self.identity_key, self.state.federation_id, round_json["id"],
                               self.client_id, body)
        response = self.transport.post(f"{self._base}/rounds/{round_json['id']}/dp-event",
                                       json={"event": event.to_json(),
                                             "signature": base64url.encode(signature)})
        return dict(response.json())

    def submit(self, update: np.ndarray, round_json: dict[str, Any], *,
               dp_event: DPEvent | Mapping[str, Any] | None = None,
               timeout: float = 3600.0) -> dict[str, Any]:
        """Protect ``update`` (flat, in the federation's parameter order) and take part in the
        round to its end; returns the closed round (its ``contributors`` included).

        ``dp_event`` (``LocalUpdate.event``) goes to the privacy ledger first."""
        federation = self.federation()
        x = np.asarray(update, dtype=np.float64).ravel()
        if x.size != federation["dimension"]:
            raise ConfigError(f"the update has {x.size} values; this federation's spec has "
                              f"{federation['dimension']} (check the parameter order and shapes)")
        if not np.all(np.isfinite(x)):
            raise ConfigError("the update contains NaN or infinity; refusing to send it")
        x = clip_to_norm(x, federation["clip_norm"])
        if dp_event is not None:
            self.report_dp_event(round_json, dp_event)
        driver: SecAggDriver | CkksDriver
        if federation["mode"] == "secagg":
            driver = SecAggDriver(self.transport, self.state.federation_id, round_json,
                                  client_id=self.client_id, identity_key=self.identity_key,
                                  roster=self.roster(), federation=federation)
            if driver.ddg is not None:
                self._check_client_level_budget(driver.ddg)
        else:
            driver = CkksDriver(self.transport, self.state.federation_id, round_json,
                                client_id=self.client_id, identity_key=self.identity_key)
        self.state.last_round = max(self.state.last_round, int(round_json["number"]))
        if isinstance(driver, SecAggDriver) and driver.ddg is not None:
            self.state.client_dp_rounds += 1  # counted before sending: never undercounted
            self.state.client_dp_terms.append(driver.ddg.accounting_terms())
        if self.state_file is not None:
            self.state.save(self.state_file)
        self.last_upload_bytes = 0
        try:
            return driver.run(x, timeout=timeout)
        finally:
            self.last_upload_bytes = driver.uploaded_bytes

    def global_adapter(self) -> np.ndarray:
        """The federation's global adapter after every closed round (float64, spec order)."""
        data = self.transport.get(f"{self._base}/global").content
        return np.frombuffer(data, dtype="<f8").copy()

    def client_level_epsilon(self, extra: list[dict[str, float]] | None = None) -> float:
        """This client's client-level epsilon under the federation's distributed DP: Kairouz
        et al.'s bound over every round it sent an update in (kept in the state file), as the
        server's ledger computes it; ``extra`` adds rounds not sent yet."""
        federation = self.federation()
        if not federation.get("client_dp"):
            return 0.0
        if len(self.state.client_dp_terms) < self.state.client_dp_rounds:
            return math.inf  # a state file from before the terms were kept: unknown
        return distributed_dg_epsilon([*self.state.client_dp_terms, *(extra or [])],
                                      float(federation["delta"]))

    def _check_client_level_budget(self, ddg: DDGParams) -> None:
        federation = self.federation()
        after = self.client_level_epsilon(extra=[ddg.accounting_terms()])
        if after > float(federation["epsilon_budget"]):
            raise BudgetExhaustedError(
                f"this round would bring this client's client-level epsilon to {after:.3f}, over "
                f"the federation's budget of {federation['epsilon_budget']}; it must stop here")

    def result(self, round_id: str, *, average: bool = False) -> np.ndarray:
        """The closed round's sum, or its average over the contributors (float64)."""
        kind = "average" if average else "sum"
        data = self.transport.get(f"{self._base}/rounds/{round_id}/result/{kind}").content
        return np.frombuffer(data, dtype="<f8").copy()

