"""Run a whole SecAgg+ round in one process, with any dropout pattern.

The simulator drives the very same :class:`SecAggClient` and
:class:`SecAggServer` objects the service and the SDK drive, relaying messages
by hand. Tests use it to check exact sums under dropouts; the benchmark uses
its timings. A client in ``drops[stage]`` goes silent just before sending its
message of that stage and never comes back; ``drops[stage]`` may also be a function
of the server's context at that stage (the graph is drawn only once adverts are in).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes
from blindsum.crypto.secagg import wire
from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import Exclusions, MaskedInput, ShareEnvelope
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.server import AggregateResult, SecAggServer
from blindsum.crypto.secagg.stages import Stage
from blindsum.errors import BlindsumError

__all__ = ["Drops", "SimulatedCohort", "SimulationResult", "new_cohort", "simulate_round"]

Drops = Mapping[Stage, Collection[int] | Callable[[RoundContext], Collection[int]]]
"""Who drops at each stage: ids, or a function of the server's context at that stage."""


@dataclass(frozen=True)
class SimulatedCohort:
    """A round context plus every participant's identity key."""

    context: RoundContext
    identity_keys: Mapping[int, Ed25519PrivateKey]

    @property
    def required(self) -> SecAggParams:
        """What every client of the cohort requires: exactly the round's parameters."""
        return self.context.params

    @property
    def roster(self) -> dict[int, bytes]:
        return {u: identity_public_bytes(k) for u, k in self.identity_keys.items()}


def new_cohort(
    num_clients: int,
    dimension: int,
    *,
    params: SecAggParams | None = None,
    clip_norm: float = 1.0,
    max_clients: int | None = None,
    dropout_rate: float = 0.1,
) -> SimulatedCohort:
    """A fresh round for clients ``1..num_clients`` with derived parameters."""
    params = params or SecAggParams.derive(num_clients, dropout_rate=dropout_rate)
    codec = FixedPointCodec.create(
        bits=32 if params.bits == 32 else 64, clip_norm=clip_norm,
        max_clients=max_clients or num_clients,
    )
    ids = tuple(range(1, num_clients + 1))
    context = RoundContext(
        federation="simulation", round_number=1, round_seed=os.urandom(32),
        participants=ids, params=params, dimension=dimension, codec=codec,
    )
    return SimulatedCohort(context, {u: generate_identity_key() for u in ids})


@dataclass
class SimulationResult:
    """What happened in a simulated round, with per-party timings in seconds."""

    result: AggregateResult | None
    abort_reason: str | None
    refused: dict[int, str] = field(default_factory=dict)
    client_check_seconds: dict[int, float] = field(default_factory=dict)
    """Per client, opening and checking its neighbours' envelopes (the check-shares stage)."""
    client_mask_seconds: dict[int, float] = field(default_factory=dict)
    client_total_seconds: dict[int, float] = field(default_factory=dict)
    server_sum_seconds: float = 0.0
    server_unmask_seconds: float = 0.0
    upload_bytes: dict[int, int] = field(default_factory=dict)
    message_bytes: dict[int, int] = field(default_factory=dict)
    """Per client, the bytes of its JSON messages (seed commitment, advert, envelopes,
    accusations, signature, unmask shares) as the service's wire format encodes them: the
    protocol's metadata."""
    relay_bytes: dict[int, int] = field(default_factory=dict)
    """Per client, the bytes of the JSON relays it is sent (commitments, adverts, its
    envelopes, exclusions, survivor set, certificate)."""


class _Driver:
    """Relays messages between the clients and the server, timing each party."""

    def __init__(self, cohort: SimulatedCohort, drops: Drops) -> None:
        roster = cohort.roster
        self.context = cohort.context
        self.server = SecAggServer(self.context, roster=roster)
        self.clients = {
            u: SecAggClient(self.context, client_id=u, identity_key=k, roster=roster,
                            required=cohort.required)
            for u, k in cohort.identity_keys.items()
        }
        self.drops = drops
        self.out = SimulationResult(result=None, abort_reason=None)
        self.alive = set(self.clients)

    def _client(self, stage: Stage, admitted: Collection[int]) -> list[int]:
        """The clients that take part in ``stage``: admitted, alive, not dropping now."""
        dropping = self.drops.get(stage, ())
        self.alive -= set(dropping(self.server.context) if callable(dropping) else dropping)
        return sorted(self.alive & set(admitted))

    def _call(self, u: int, fn, *args):  # type: ignore[no-untyped-def]
        """Call a client step, timing it; a client that refuses leaves the round."""
        start = time.perf_counter()
        try:
            return fn(*args)
        except BlindsumError as exc:
            self.out.refused[u] = f"{type(exc).__name__}: {exc}"
            self.alive.discard(u)
            return None
        finally:
            spent = time.perf_counter() - start
            self.out.client_total_seconds[u] = self.out.client_total_seconds.get(u, 0.0) + spent

    def run(self, updates: Mapping[int, np.ndarray]) -> SimulationResult:
        try:
            self._run(updates)
        except BlindsumError as exc:
            self.out.abort_reason = f"{type(exc).__name__}: {exc}"
        return self.out

    def _sent(self, u: int, message: object) -> None:
        size = len(json.dumps(message, separators=(",", ":")))
        self.out.message_bytes[u] = self.out.message_bytes.get(u, 0) + size

    def _relayed(self, clients: Collection[int], message: object) -> None:
        """Count ``message`` (JSON) as relayed to each of ``clients``."""
        size = len(json.dumps(message, separators=(",", ":")))
        for u in clients:
            self.out.relay_bytes[u] = self.out.relay_bytes.get(u, 0) + size

    def _run(self, updates: Mapping[int, np.ndarray]) -> None:
        inbox = self._share_keys()
        exclusions = self._check_shares(inbox)
        self._mask(set(inbox) - set(exclusions.excluded), exclusions, updates)
        self._unmask()

    def _share_keys(self) -> dict[int, tuple[ShareEnvelope, ...]]:
        """Commit, advertise and share: the envelopes relayed to each client."""
        s, c = self.server, self.clients
        for u in self._client(Stage.COMMIT_SEED, c):
            if (commitment := self._call(u, c[u].commit_seed)) is not None:
                self._sent(u, wire.commitment_to_json(commitment))
                s.receive_commitment(commitment)
        commitments = s.close_commit_seed()
        committers = [m.sender for m in commitments]
        self._relayed(committers, [wire.commitment_to_json(m) for m in commitments])
        for u in self._client(Stage.ADVERTISE_KEYS, committers):
            if (advert := self._call(u, c[u].advertise_keys, commitments)) is not None:
                self._sent(u, wire.advert_to_json(advert))
                s.receive_advert(advert)
        adverts = s.close_advertise_keys()
        advertisers = [a.sender for a in adverts]
        self._relayed(advertisers, [wire.advert_to_json(a) for a in adverts])
        for u in self._client(Stage.SHARE_KEYS, advertisers):
            if (envs := self._call(u, c[u].share_keys, adverts)) is not None:
                self._sent(u, wire.envelopes_to_json(envs))
                s.receive_shares(u, envs)
        inbox = s.close_share_keys()
        for u, envs in inbox.items():
            self._relayed([u], wire.envelopes_to_json(envs))
        return inbox

    def _check_shares(self, inbox: Mapping[int, tuple[ShareEnvelope, ...]]) -> Exclusions:
        for u in self._client(Stage.CHECK_SHARES, inbox):
            start = time.perf_counter()
            accusations = self._call(u, self.clients[u].check_shares, inbox[u])
            self.out.client_check_seconds[u] = time.perf_counter() - start
            if accusations is not None:
                self._sent(u, wire.accusations_to_json(accusations))
                with contextlib.suppress(BlindsumError):  # refused: the sender is excluded
                    self.server.receive_accusations(accusations)
        exclusions = self.server.close_check_shares()
        self._relayed(inbox, wire.exclusions_to_json(exclusions))
        return exclusions

    def _mask(self, maskers: Collection[int], exclusions: Exclusions,
              updates: Mapping[int, np.ndarray]) -> None:
        for u in self._client(Stage.MASKED_INPUT, maskers):
            masked = self._masked_input(u, exclusions, updates[u])
            if masked is None:
                continue
            start = time.perf_counter()
            with contextlib.suppress(BlindsumError):  # refused: as if the sender had dropped
                self.server.receive_masked_input(masked)
            self.out.server_sum_seconds += time.perf_counter() - start

    def _unmask(self) -> None:
        s, c = self.server, self.clients
        survivor_set = s.close_masked_input()
        self._relayed(survivor_set.survivors, wire.survivors_to_json(survivor_set))
        for u in self._client(Stage.CONSISTENCY_CHECK, survivor_set.survivors):
            if (sig := self._call(u, c[u].consistency_check, survivor_set)) is not None:
                self._sent(u, wire.signature_to_json(sig))
                s.receive_consistency(sig)
        signatures = s.close_consistency()
        signers = [sig.sender for sig in signatures]
        self._relayed(signers, [wire.signature_to_json(sig) for sig in signatures])
        for u in self._client(Stage.UNMASK, signers):
            if (shares := self._call(u, c[u].unmask, signatures)) is not None:
                self._sent(u, wire.unmask_to_json(shares))
                s.receive_unmask(shares)
        start = time.perf_counter()
        self.out.result = s.finalize()
        self.out.server_unmask_seconds = time.perf_counter() - start

    def _masked_input(self, u: int, exclusions: Exclusions, update: np.ndarray
                      ) -> MaskedInput | None:
        client = self.clients[u]
        step = client.mask_encoded if update.dtype.kind == "u" else client.mask_update
        start = time.perf_counter()
        masked: MaskedInput | None = self._call(u, step, exclusions, update)
        self.out.client_mask_seconds[u] = time.perf_counter() - start
        if masked is not None:
            self.out.upload_bytes[u] = masked.nbytes
        return masked


def simulate_round(
    cohort: SimulatedCohort,
    updates: Mapping[int, np.ndarray],
    *,
    drops: Drops | None = None,
) -> SimulationResult:
    """Run one round. ``updates`` are float vectors (clipped and quantized by each
    client) or already-encoded unsigned words (masked as they are)."""
    return _Driver(cohort, drops or {}).run(updates)
