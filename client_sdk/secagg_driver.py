"""One client's part in one SecAgg+ round, driven over HTTP.

All protocol decisions are :class:`~blindsum.crypto.secagg.client.SecAggClient`'s:
it verifies the signed adverts, refuses a survivor set that is too small or
inconsistent or not certified by a quorum, and never reveals both secrets of one
peer. The driver derives the parameters the client requires from the federation's
settings as this client pinned them (never from the round's own announcement),
moves the messages and follows the round's stages by long-polling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.client_sdk.flows import Call, Flow
from blindsum.client_sdk.transport import LONG_POLL_SECONDS, Transport
from blindsum.crypto.secagg import wire
from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.distributed_dp import DDGParams, encode
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.stages import MESSAGE_STAGES, Stage
from blindsum.errors import ConfigError, RoundStateError, ServiceUnavailableError
from blindsum.wire import FederationPublic, RoundPublic, SecAggProtocol, UploadAccepted, announced
from blindsum.wire.base import received

__all__ = ["ORDER", "SecAggDriver", "SecAggRound", "required_params", "stage_index"]

ORDER = (*(s.value for s in MESSAGE_STAGES), Stage.CLOSED.value)


def stage_index(stage: Stage | str) -> int:
    """Position of ``stage`` (or its wire name) in a secagg round; aborted sorts last."""
    name = stage.value if isinstance(stage, Stage) else stage
    return ORDER.index(name) if name in ORDER else len(ORDER)


def required_params(federation: FederationPublic, num_clients: int) -> SecAggParams:
    """The weakest SecAgg parameters a client accepts for ``num_clients`` participants:
    derived from the federation's declared dropout and corruption rates and min_clients
    (the same derivation the service announces from)."""
    return SecAggParams.derive(num_clients, dropout_rate=federation.dropout_rate,
                               corruption_rate=federation.corruption_rate,
                               min_survivors=federation.min_clients)


class SecAggRound:
    """One client's part in one SecAgg+ round as flows (:mod:`blindsum.client_sdk.flows`):
    commit, advertise, share, check the shares, upload the masked input, sign, unmask; or
    ``run``. No I/O here: :class:`SecAggDriver` runs the flows over a synchronous transport,
    :class:`~blindsum.client_sdk.AsyncClient` over an asynchronous one."""

    def __init__(self, federation_id: str, round_: RoundPublic, *, client_id: int,
                 identity_key: Ed25519PrivateKey, roster: dict[int, bytes],
                 federation: FederationPublic) -> None:
        self.round = round_
        self.url = f"/v1/federations/{federation_id}/rounds/{round_.id}"
        self.protocol = announced(SecAggProtocol, round_.protocol)
        self.context = RoundContext.from_protocol(
            federation=federation_id, round_number=round_.number,
            round_seed=round_.round_seed, participants=round_.participants,
            protocol=self.protocol.model_dump())
        required = required_params(federation, len(round_.participants))
        self.machine = SecAggClient(self.context, client_id=client_id, identity_key=identity_key,
                                    roster=roster, required=required)
        self.uploaded_bytes = 0
        self.accused: tuple[int, ...] = ()
        """The neighbours whose envelopes this client could not use (set by ``check``)."""
        self.ddg = self._checked_ddg(federation)

    def _checked_ddg(self, federation: FederationPublic) -> DDGParams | None:
        """The round's distributed-DP encoding, re-derived here: a server cannot make this
        client add less noise than the federation promises."""
        protocol = self.protocol
        if protocol.ddg is None:
            if federation.client_dp is not None:
                raise ConfigError("the federation promises client-level DP but the round does "
                                  "not announce it; refusing to send an unnoised update")
            return None
        if federation.client_dp is None:
            raise ConfigError("the round announces distributed DP the federation does not have")
        if protocol.min_survivors < federation.min_clients:
            raise ConfigError("the round's min_survivors is below the federation's min_clients")
        mine = DDGParams.derive(dimension=federation.dimension, clip=federation.clip_norm,
                                noise_multiplier=federation.client_dp.noise_multiplier,
                                min_survivors=protocol.min_survivors,
                                max_clients=len(self.round.participants), bits=protocol.bits,
                                colluders=self.machine.context.params.max_corrupted)
        if DDGParams.from_json(protocol.ddg.model_dump()) != mine:
            raise ConfigError("the server announced distributed-DP parameters that differ from "
                              "the ones this client derives from the federation's settings")
        return mine

    def _relay(self, stage: Stage) -> Flow[Any]:
        reply = yield Call("GET", f"{self.url}/secagg/{stage.value}/relay")
        assert reply is not None
        return reply.json()

    def _send(self, stage: Stage, payload: Any) -> Flow[None]:
        yield Call("POST", f"{self.url}/secagg/{stage.value}", json=payload)

    def commit(self) -> Flow[None]:
        commitment = self.machine.commit_seed()
        yield from self._send(Stage.COMMIT_SEED, wire.commitment_to_json(commitment))

    def advertise(self) -> Flow[None]:
        commitments = wire.commitments_from_json((yield from self._relay(Stage.COMMIT_SEED)),
                                                 limit=len(self.context.participants))
        yield from self._send(Stage.ADVERTISE_KEYS,
                              wire.advert_to_json(self.machine.advertise_keys(commitments)))

    def share(self) -> Flow[None]:
        adverts = wire.adverts_from_json((yield from self._relay(Stage.ADVERTISE_KEYS)),
                                         limit=len(self.context.participants))
        yield from self._send(Stage.SHARE_KEYS,
                              wire.envelopes_to_json(self.machine.share_keys(adverts)))

    def check(self) -> Flow[None]:
        """Open and check the neighbours' envelopes; name the ones that failed."""
        params = self.context.params
        envelopes = wire.envelopes_from_json((yield from self._relay(Stage.SHARE_KEYS)),
                                             limit=params.neighbours, threshold=params.threshold)
        accusations = self.machine.check_shares(envelopes)
        self.accused = tuple(accusations.accused)
        yield from self._send(Stage.CHECK_SHARES, wire.accusations_to_json(accusations))

    def masked_bytes(self, update: np.ndarray) -> Flow[bytes]:
        """Clip, quantize and mask ``update`` (float) for this round: the bytes to upload."""
        exclusions = wire.exclusions_from_json((yield from self._relay(Stage.CHECK_SHARES)),
                                               limit=len(self.context.participants))
        if self.ddg is not None:
            words = encode(update, self.ddg, self.context.round_seed)
            masked = self.machine.mask_encoded(exclusions, words)
        else:
            masked = self.machine.mask_update(exclusions, update)
        return np.ascontiguousarray(masked.vector, dtype=masked.vector.dtype.newbyteorder("<")
                                    ).tobytes()

    def upload(self, data: bytes) -> Flow[bool]:
        """PUT the masked input (again, after a lost response: it is stored once); whether
        the server stored it anew."""
        reply = yield Call("PUT", f"{self.url}/secagg/{Stage.MASKED_INPUT.value}", content=data,
                           headers={"Content-Type": "application/octet-stream"})
        assert reply is not None
        self.uploaded_bytes += len(data)
        return received(UploadAccepted, reply.json(), "the upload receipt").stored

    def mask_and_upload(self, update: np.ndarray) -> Flow[None]:
        yield from self.upload((yield from self.masked_bytes(update)))

    def sign(self) -> Flow[None]:
        survivors = wire.survivors_from_json((yield from self._relay(Stage.MASKED_INPUT)))
        yield from self._send(Stage.CONSISTENCY_CHECK,
                              wire.signature_to_json(self.machine.consistency_check(survivors)))

    def unmask(self) -> Flow[None]:
        signatures = [wire.signature_from_json(s)
                      for s in (yield from self._relay(Stage.CONSISTENCY_CHECK))]
        yield from self._send(Stage.UNMASK, wire.unmask_to_json(self.machine.unmask(signatures)))

    def wait_past(self, stage: Stage | str, *, timeout: float) -> Flow[RoundPublic]:
        """Long-poll until the round has left ``stage``; raise if it was aborted."""
        stage = stage.value if isinstance(stage, Stage) else stage
        give_up = time.monotonic() + timeout
        while True:
            wait = max(0.0, min(LONG_POLL_SECONDS, give_up - time.monotonic()))
            reply = yield Call("GET", self.url, params={"after": stage, "wait": wait},
                               timeout=wait + 30)
            assert reply is not None
            self.round = received(RoundPublic, reply.json(), "a round")
            if self.round.stage == Stage.ABORTED.value:
                self.machine.abort(self.round.abort_reason or "the server aborted the round")
                raise RoundStateError(f"the round was aborted: {self.round.abort_reason}")
            if self.round.stage != stage:
                return self.round
            if time.monotonic() >= give_up:
                raise ServiceUnavailableError(
                    f"the round stayed in stage {stage!r} for {timeout:.0f} s; "
                    "other clients may be slow (the stage deadline will move it on)")

    def steps(self, update: np.ndarray) -> tuple[tuple[Stage, Callable[[], Flow[None]]], ...]:
        """Each stage with the flow that takes part in it, in order."""
        steps: dict[Stage, Callable[[], Flow[None]]] = {
            Stage.COMMIT_SEED: self.commit, Stage.ADVERTISE_KEYS: self.advertise,
            Stage.SHARE_KEYS: self.share, Stage.CHECK_SHARES: self.check,
            Stage.MASKED_INPUT: lambda: self.mask_and_upload(update),
            Stage.CONSISTENCY_CHECK: self.sign, Stage.UNMASK: self.unmask}
        return tuple((stage, steps[stage]) for stage in MESSAGE_STAGES)

    def run(self, update: np.ndarray, *, timeout: float = 3600.0) -> Flow[RoundPublic]:
        """Take part in every stage; returns the final round (closed, with contributors)."""
        for stage, step in self.steps(update):
            if stage_index(self.round.stage) > stage_index(stage):
                raise RoundStateError(f"the round is past {stage.value!r}; this client missed it")
            yield from step()
            yield from self.wait_past(stage, timeout=timeout)
        return self.round


class SecAggDriver:
    """:class:`SecAggRound` run step by step over a synchronous :class:`Transport`."""

    def __init__(self, transport: Transport, federation_id: str, round_: RoundPublic,
                 *, client_id: int, identity_key: Ed25519PrivateKey,
                 roster: dict[int, bytes], federation: FederationPublic) -> None:
        self.transport = transport
        self.flows = SecAggRound(federation_id, round_, client_id=client_id,
                                 identity_key=identity_key, roster=roster, federation=federation)

    @property
    def round(self) -> RoundPublic:
        return self.flows.round

    @property
    def machine(self) -> SecAggClient:
        return self.flows.machine

    @property
    def context(self) -> RoundContext:
        return self.flows.context

    @property
    def ddg(self) -> DDGParams | None:
        return self.flows.ddg

    @property
    def uploaded_bytes(self) -> int:
        return self.flows.uploaded_bytes

    def commit(self) -> None:
        self.transport.run(self.flows.commit())

    def advertise(self) -> None:
        self.transport.run(self.flows.advertise())

    def share(self) -> None:
        self.transport.run(self.flows.share())

    def check(self) -> None:
        self.transport.run(self.flows.check())

    def masked_bytes(self, update: np.ndarray) -> bytes:
        return self.transport.run(self.flows.masked_bytes(update))

    def upload(self, data: bytes) -> bool:
        return self.transport.run(self.flows.upload(data))

    def sign(self) -> None:
        self.transport.run(self.flows.sign())

    def unmask(self) -> None:
        self.transport.run(self.flows.unmask())

    def wait_past(self, stage: Stage | str, *, timeout: float) -> RoundPublic:
        return self.transport.run(self.flows.wait_past(stage, timeout=timeout))

    def steps(self, update: np.ndarray) -> tuple[tuple[Stage, Callable[[], None]], ...]:
        return tuple((stage, lambda step=step: self.transport.run(step()))
                     for stage, step in self.flows.steps(update))

    def run(self, update: np.ndarray, *, timeout: float = 3600.0) -> RoundPublic:
        return self.transport.run(self.flows.run(update, timeout=timeout))
