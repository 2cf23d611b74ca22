"""What clients and custodians share under threshold custody: the pinned custodian roster,
a round's key context, and the collective key a client may encrypt under.

The roster is trusted on first use and pinned in the state file: a server that later
swaps a custodian's keys (to receive its re-shares, or to stand in for it) is refused.
A client encrypts only under a key at least t pinned custodians confirmed, and builds
the TenSEAL context itself from that key (it never loads a context the server made).
"""

from __future__ import annotations

from typing import Any

from blindsum.client_sdk.flows import Call, Flow
from blindsum.crypto import base64url
from blindsum.crypto.ckks.threshold.ceremony import (
    CustodianEntry,
    KeyConfirmation,
    KeyContext,
    check_collective_key,
)
from blindsum.crypto.ckks.threshold.keys import CollectiveKey, key_basis
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues
from blindsum.crypto.ckks.threshold.tenseal_context import public_context
from blindsum.errors import ConfigError, ProtocolError
from blindsum.wire import (
    CkksProtocol,
    CustodianPublic,
    FederationPublic,
    RoundKeyPublic,
    RoundPublic,
)
from blindsum.wire.base import received

__all__ = ["checked_custodians", "collective_context_flow", "custodians_flow", "key_context",
           "key_max_age", "threshold_params", "threshold_params_of_protocol"]


def threshold_params(federation: FederationPublic) -> ThresholdParams:
    if federation.custody != "threshold":
        raise ConfigError("this federation's key custody is local: it has no custodians")
    return ThresholdParams.derive(max_clients=federation.max_clients, max_abs=federation.clip_norm,
                                  custodians=federation.custodians,
                                  threshold=federation.custodian_threshold)


def threshold_params_of_protocol(protocol: CkksProtocol) -> ThresholdParams:
    """Derive the parameters locally and check the round announced the same ones."""
    if protocol.custodians is None or protocol.threshold is None:
        raise ProtocolError("a threshold-custody round must announce its custodians and t")
    params = ThresholdParams.derive(max_clients=protocol.max_clients, max_abs=protocol.max_abs,
                                    custodians=protocol.custodians, threshold=protocol.threshold)
    stated = (protocol.poly_modulus_degree, list(protocol.coeff_mod_bit_sizes),
              protocol.scale_bits, protocol.statistical_bits, protocol.max_ciphertexts)
    derived = (params.ckks.poly_modulus_degree, list(params.ckks.coeff_mod_bit_sizes),
               params.ckks.scale_bits, params.flooding.statistical_bits,
               params.flooding.max_ciphertexts)
    if stated != derived:
        raise ConfigError(f"the server announced threshold CKKS parameters {stated}, but this "
                          f"side derives {derived}; upgrade blindsum on one side")
    return params


def custodians_flow(federation_id: str) -> Flow[list[CustodianPublic]]:
    reply = yield Call("GET", f"/v1/federations/{federation_id}/custodians")
    assert reply is not None
    listed = reply.json()
    if not isinstance(listed, list):
        raise ProtocolError("the custodian roster is not a list")
    return [received(CustodianPublic, item, "a custodian") for item in listed]


def checked_custodians(live: list[CustodianPublic], pin: list[dict[str, Any]] | None,
                       expected: int) -> list[dict[str, Any]]:
    """The roster as pinned: the first complete roster seen; any later change is refused."""
    seen = [{"index": c.custodian_index, "identity_key": base64url.encode(c.identity_key),
             "exchange_key": base64url.encode(c.exchange_key)}
            for c in sorted(live, key=lambda c: c.custodian_index)]
    if len(seen) != expected:
        raise ProtocolError(f"{len(seen)} of the federation's {expected} custodians have "
                            "enrolled; wait until all have")
    if pin is not None and pin != seen:
        raise ConfigError("the federation's custodians changed since this party pinned them "
                          "(a server swapping a custodian's keys would see every re-share it "
                          "was dealt); refusing to take part. If the change is genuine, "
                          "enroll again with a new invite")
    return seen


def key_context(federation: FederationPublic, round_: RoundPublic,
                pinned: list[dict[str, Any]]) -> KeyContext:
    entries = tuple(CustodianEntry(int(c["index"]),
                                   base64url.decode(c["identity_key"], size=32),
                                   base64url.decode(c["exchange_key"], size=32))
                    for c in pinned)
    return KeyContext(federation.id, round_.id, threshold_params(federation), entries,
                      round_.number)


def key_max_age(federation: FederationPublic) -> float:
    """How long after its confirmation a client still encrypts under a round's key: the
    upload stage's deadline comes at most two stage timeouts after key-confirm opened."""
    return 3 * federation.stage_timeout_seconds


def collective_context_flow(context: KeyContext, max_age: float | None = None) -> Flow[bytes]:
    """The round's TenSEAL public context, built here from a key t custodians confirmed
    (within ``max_age`` seconds)."""
    base = f"/v1/federations/{context.federation_id}/rounds/{context.key_id}"
    reply = yield Call("GET", f"{base}/ckks/key")
    assert reply is not None
    announced = received(RoundKeyPublic, reply.json(), "the round's key")
    reply = yield Call("GET", f"{base}/ckks/collective-key")
    assert reply is not None
    ckks = context.params.ckks
    b = decode_residues(key_basis(ckks), reply.content, what="the collective key")
    key = CollectiveKey(ckks, announced.seed, b)
    check_collective_key(context, key, [
        KeyConfirmation(c.custodian_index, c.key_digest, c.confirmed_at, c.signature)
        for c in announced.confirmations], max_age=max_age)
    return public_context(ckks, key.b, key.a)
