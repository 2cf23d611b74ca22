"""A custodian's decision to partially decrypt: what it checks, what it remembers.

The aggregator is not trusted to say what it wants decrypted. A custodian never takes
a ciphertext from it: it is handed the round's uploads with their clients'
signatures, checks them against the client roster it pinned, rebuilds the sum with
its own accumulator and decrypts only that. It refuses:

* an upload not signed, for this round, by a client on the pinned roster (so a chosen
  ciphertext or a replaced upload is never decrypted);
* fewer than ``max(min_clients, 3)`` distinct contributors (a lone upload, or a sum of
  two, would be an input);
* a second, different set of contributors for a round it already decrypted: two sums
  differing by one client would give that client's input by subtraction;
* more ciphertexts than the flooding width was sized for (:mod:`.flooding`).

Its memory (:class:`CustodianLedger`) is JSON, and the caller must store it durably
*before* releasing a partial decryption, so a crash cannot reset the checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator, verify_upload_signature
from blindsum.crypto.ckks.threshold.decryption import partial_decryption
from blindsum.crypto.ckks.threshold.keys import ThresholdKeyShare
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.limits import MIN_COHORT
from blindsum.errors import ConfigError, ProtocolError, RoundStateError, ThresholdNotMetError

__all__ = ["CustodianLedger", "DecryptionRequest", "SignedUpload", "decide_and_decrypt"]


@dataclass(frozen=True)
class SignedUpload:
    client_id: int
    upload: bytes = field(repr=False)
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class DecryptionRequest:
    """What the aggregator asks: this round's sum of these uploads, for this active set."""

    round_id: bytes
    dimension: int
    active: tuple[int, ...]
    uploads: tuple[SignedUpload, ...]


@dataclass
class CustodianLedger:
    """What one key share has decrypted: per round the contributor set, and in all how
    many ciphertexts (the flooding budget)."""

    ciphertexts: int = 0
    rounds: dict[str, str] = field(default_factory=dict)  # round id (hex) -> set digest

    def to_json(self) -> str:
        return json.dumps({"ciphertexts": self.ciphertexts, "rounds": self.rounds},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CustodianLedger:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("ciphertexts"), int) or \
                not isinstance(data.get("rounds"), dict):
            raise ConfigError("not a custodian ledger")
        return cls(int(data["ciphertexts"]), {str(k): str(v) for k, v in data["rounds"].items()})


def _contributor_set_digest(round_id: bytes, uploads: Sequence[SignedUpload]) -> str:
    parts = sorted((u.client_id, hashlib.sha256(u.upload).digest()) for u in uploads)
    return hashlib.sha256(canonical(b"ckks/threshold/contributors", round_id,
                                    *(b for cid, d in parts
                                      for b in (cid.to_bytes(4, "big"), d)))).hexdigest()


def _checked_sum(params: ThresholdParams, request: DecryptionRequest,
                 roster: Mapping[int, bytes], min_clients: int) -> np.ndarray:
    ids = [u.client_id for u in request.uploads]
    if len(set(ids)) != len(ids):
        raise ProtocolError("a client appears twice among the uploads")
    need = max(min_clients, MIN_COHORT)
    if len(ids) < need:
        raise ThresholdNotMetError(f"only {len(ids)} contributions; at least {need} are "
                                   "needed before a sum is decrypted")
    accumulator = EncryptedSumAccumulator(params.ckks, request.dimension,
                                          round_id=request.round_id)
    for u in request.uploads:
        if u.client_id not in roster:
            raise ConfigError(f"an upload from client {u.client_id}, who is not on the roster "
                              "this custodian pinned")
        verify_upload_signature(roster[u.client_id], u.signature, request.round_id,
                                u.client_id, u.upload)
        accumulator.add(u.upload, client_id=u.client_id, signature=u.signature)
    accumulator.close()
    return accumulator.ciphertext_sum().reshape(-1, params.ckks.words_per_chunk)


def decide_and_decrypt(params: ThresholdParams, share: ThresholdKeyShare,
                       ledger: CustodianLedger, request: DecryptionRequest, *,
                       roster: Mapping[int, bytes], min_clients: int,
                       rng: RandomSource) -> tuple[CustodianLedger, np.ndarray]:
    """Check ``request`` and return the updated ledger with the partial decryption.

    Store the returned ledger durably before sending the partial anywhere."""
    if share.index not in request.active or len(request.active) != params.threshold or \
            len(set(request.active)) != len(request.active) or \
            not all(1 <= i <= params.custodians for i in request.active):
        raise ProtocolError(f"the active set must be {params.threshold} distinct custodians "
                            "including this one")
    key = request.round_id.hex()
    digest = _contributor_set_digest(request.round_id, request.uploads)
    if key in ledger.rounds and ledger.rounds[key] != digest:
        raise RoundStateError("this custodian already decrypted another set of contributions "
                              "for this round; two sums would reveal their difference")
    ciphertexts = _checked_sum(params, request, roster, min_clients)
    used = ledger.ciphertexts + ciphertexts.shape[0]
    if used > params.flooding.max_ciphertexts:
        raise RoundStateError("this key share reached the number of decryptions its flooding "
                              "was sized for; rotate the key")
    partial = partial_decryption(params, share, request.active, ciphertexts, rng)
    return CustodianLedger(used, {**ledger.rounds, key: digest}), partial
