"""One client's part in one CKKS round: encrypt under the federation's public context, upload.

The client never holds a secret key (the encryptor refuses a context that has
one) and signs each upload with its identity key, so key custody decrypts only
sums of uploads that enrolled clients really sent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.client_sdk.flows import Call, Flow
from blindsum.client_sdk.threshold import collective_context_flow, threshold_params_of_protocol
from blindsum.client_sdk.transport import LONG_POLL_SECONDS, Transport
from blindsum.crypto import base64url
from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.stages import Stage
from blindsum.crypto.ckks.threshold.ceremony import KeyContext
from blindsum.errors import ConfigError, RoundStateError, ServiceUnavailableError
from blindsum.wire import CkksProtocol, RoundPublic, announced
from blindsum.wire.base import received

__all__ = ["CkksDriver", "CkksRound"]

UPLOAD = Stage.UPLOAD.value
_KEY_STAGES = frozenset(s.value for s in (Stage.KEY_COMMIT, Stage.KEY_REVEAL, Stage.KEY_CONFIRM))
_AFTER_UPLOAD = frozenset({UPLOAD, Stage.AGREE.value, Stage.DECRYPT.value})


def params_from_protocol(protocol: Any) -> CkksParams:
    """Derive the parameters locally and check the server announced the same ones."""
    checked = announced(CkksProtocol, protocol)
    params = CkksParams.for_clients(checked.max_clients, max_abs=checked.max_abs)
    stated = (checked.poly_modulus_degree, list(checked.coeff_mod_bit_sizes), checked.scale_bits)
    derived = (params.poly_modulus_degree, list(params.coeff_mod_bit_sizes), params.scale_bits)
    if stated != derived:
        raise ConfigError(f"the server announced CKKS parameters {stated}, but this client "
                          f"derives {derived}; upgrade blindsum on one side")
    return params


class CkksRound:
    """One client's part in one CKKS round as flows: ``upload`` then ``wait``, or ``run``.
    The public context is fetched by the first upload. Under threshold custody
    (``custody``: the round's key context, from the pinned custodian roster) the round
    first waits for its key, and the context is built from a key t custodians confirmed."""

    def __init__(self, federation_id: str, round_: RoundPublic, *, client_id: int,
                 identity_key: Ed25519PrivateKey, custody: KeyContext | None = None,
                 key_max_age: float | None = None) -> None:
        self.round = round_
        self.client_id = client_id
        self.identity_key = identity_key
        self.federation_url = f"/v1/federations/{federation_id}"
        self.url = f"{self.federation_url}/rounds/{round_.id}"
        protocol = announced(CkksProtocol, round_.protocol)
        if protocol.custody == "threshold":
            if custody is None or custody.key_id != round_.id:
                raise ConfigError("a threshold-custody round needs its key context")
            self.params = threshold_params_of_protocol(protocol).ckks
        else:
            self.params = params_from_protocol(protocol)
        self.custody, self.key_max_age = custody, key_max_age
        self.encryptor: CkksEncryptor | None = None
        self.uploaded_bytes = 0

    def upload(self, update: np.ndarray) -> Flow[None]:
        if self.encryptor is None:
            if self.custody is not None:
                context = yield from collective_context_flow(self.custody, self.key_max_age)
            else:
                reply = yield Call("GET", f"{self.federation_url}/ckks/public-context")
                assert reply is not None
                context = reply.content
            self.encryptor = CkksEncryptor(self.params, context)
        data = self.encryptor.encrypt(update)
        signature = sign_upload(self.identity_key, self.round.id.encode(), self.client_id,
                                data)
        yield Call("PUT", f"{self.url}/ckks-upload", content=data,
                   headers={"Content-Type": "application/octet-stream",
                            "X-Blindsum-Signature": base64url.encode(signature)})
        self.uploaded_bytes += len(data)

    def _wait_while(self, stages: frozenset[str], give_up: float) -> Flow[RoundPublic]:
        """Long-poll while the round is in one of ``stages``; raise if it was aborted."""
        while self.round.stage in stages:
            wait = max(0.0, min(LONG_POLL_SECONDS, give_up - time.monotonic()))
            reply = yield Call("GET", self.url, params={"after": self.round.stage, "wait": wait},
                               timeout=wait + 30)
            assert reply is not None
            self.round = received(RoundPublic, reply.json(), "a round")
            if self.round.stage in stages and time.monotonic() >= give_up:
                raise ServiceUnavailableError(
                    f"the round stayed in stage {self.round.stage!r} past the time allowed; "
                    "other parties may be slow")
        if self.round.stage == Stage.ABORTED.value:
            raise RoundStateError(f"the round was aborted: {self.round.abort_reason}")
        return self.round

    def wait(self, *, timeout: float) -> Flow[RoundPublic]:
        """Long-poll until the round is over (its sum published); raise if it was aborted."""
        return (yield from self._wait_while(_AFTER_UPLOAD, time.monotonic() + timeout))

    def run(self, update: np.ndarray, *, timeout: float = 3600.0) -> Flow[RoundPublic]:
        give_up = time.monotonic() + timeout
        yield from self._wait_while(_KEY_STAGES, give_up)
        if self.round.stage != UPLOAD:
            raise RoundStateError(f"the round is {self.round.stage!r}, not accepting uploads")
        yield from self.upload(update)
        return (yield from self._wait_while(_AFTER_UPLOAD, give_up))


class CkksDriver:
    """:class:`CkksRound` over a synchronous :class:`Transport`."""

    def __init__(self, transport: Transport, federation_id: str, round_: RoundPublic,
                 *, client_id: int, identity_key: Ed25519PrivateKey,
                 custody: KeyContext | None = None) -> None:
        self.transport = transport
        self.flows = CkksRound(federation_id, round_, client_id=client_id,
                               identity_key=identity_key, custody=custody)

    @property
    def round(self) -> RoundPublic:
        return self.flows.round

    @property
    def uploaded_bytes(self) -> int:
        return self.flows.uploaded_bytes

    def upload(self, update: np.ndarray) -> None:
        self.transport.run(self.flows.upload(update))

    def wait(self, *, timeout: float) -> RoundPublic:
        return self.transport.run(self.flows.wait(timeout=timeout))

    def run(self, update: np.ndarray, *, timeout: float = 3600.0) -> RoundPublic:
        return self.transport.run(self.flows.run(update, timeout=timeout))
