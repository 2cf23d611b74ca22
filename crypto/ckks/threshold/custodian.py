"""A custodian's decision to partially decrypt: what it checks, what it remembers.

The aggregator is not trusted to say what it wants decrypted. A custodian never takes
a ciphertext from it: it is handed the round's uploads with their clients'
signatures, checks them against the client roster it pinned, rebuilds the sum with
its own accumulator and decrypts only that. It refuses:

* an upload not signed, for this round, by a client on the pinned roster (so a chosen
  ciphertext or a replaced upload is never decrypted);
* fewer than ``max(min_clients, 3)`` distinct contributors (a lone upload, or a sum of
  two, would be an input), or more than the flooding was sized for;
* a contributor set that q custodians did not vote for (:func:`vote`), with
  ``2q > m + (t - 1)``. Two sums of one round differing by one client would give that
  client's input by subtraction; each custodian votes for one set per round, so two
  certified sets would need a custodian in both quorums that voted twice, and any two
  quorums share at least ``2q - m >= t`` custodians, more than the t - 1 that may
  collude. (Remembering only its own decryptions is not enough: the aggregator would
  take each set to a different group of custodians.)
* more ciphertexts than the flooding width was sized for (:mod:`.flooding`).

Its memory (:class:`CustodianLedger`) is JSON, and the caller must store it durably
*before* releasing a vote or a partial decryption, so a crash cannot reset the checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator, verify_upload_signature
from blindsum.crypto.ckks.threshold.ceremony import KeyContext
from blindsum.crypto.ckks.threshold.decryption import partial_decryption
from blindsum.crypto.ckks.threshold.keys import ThresholdKeyShare
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.signing import sign, verify_signature
from blindsum.crypto.limits import MAX_DIMENSION, MIN_COHORT
from blindsum.errors import (
    ConfigError,
    MalformedMessageError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

__all__ = ["ContributorSet", "CustodianLedger", "DecryptionRequest", "SetVote", "SignedUpload",
           "decide_and_decrypt", "verify_vote", "vote"]

_SET = b"ckks-threshold/contributors"
_VOTE = b"ckks-threshold/contributor-set-vote"
_MAX_CLIENT_ID = 2**31 - 1


@dataclass(frozen=True)
class SignedUpload:
    client_id: int
    upload: bytes = field(repr=False)
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class ContributorSet:
    """Which uploads a round's sum is made of: client ids and their uploads' SHA-256."""

    members: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        ids = [cid for cid, _ in self.members]
        if any(not 1 <= cid <= _MAX_CLIENT_ID for cid in ids) or \
                any(len(d) != 32 for _, d in self.members):
            raise MalformedMessageError("a contributor set names clients by positive 31-bit "
                                        "ids and uploads by SHA-256 digests")
        if len(set(ids)) != len(ids):
            raise ProtocolError("a client appears twice among the uploads")

    @classmethod
    def of(cls, uploads: Sequence[SignedUpload]) -> ContributorSet:
        return cls(tuple((u.client_id, hashlib.sha256(u.upload).digest()) for u in uploads))

    def digest(self, context: KeyContext) -> bytes:
        parts = [b for cid, d in sorted(self.members) for b in (cid, d)]
        return hashlib.sha256(canonical(_SET, context.digest, *parts)).digest()


@dataclass(frozen=True)
class SetVote:
    """Custodian ``index``'s signature on the one contributor set it accepts for a key."""

    index: int
    set_digest: bytes
    signature: bytes = field(repr=False)


@dataclass(frozen=True)
class DecryptionRequest:
    """What the aggregator asks: this round's sum of these uploads, for this active set,
    with the votes that certify the set."""

    dimension: int
    active: tuple[int, ...]
    uploads: tuple[SignedUpload, ...]
    certificate: tuple[SetVote, ...] = ()


@dataclass
class CustodianLedger:
    """What one key share has done: per key, the contributor set it voted for or decrypted,
    and in all how many ciphertexts it decrypted (the flooding budget)."""

    ciphertexts: int = 0
    rounds: dict[str, str] = field(default_factory=dict)  # round (federation, id) -> set digest

    def to_json(self) -> str:
        return json.dumps({"ciphertexts": self.ciphertexts, "rounds": self.rounds},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CustodianLedger:
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError("not a custodian ledger (not JSON)") from None
        if not isinstance(data, dict) or type(data.get("ciphertexts")) is not int or \
                data["ciphertexts"] < 0 or not isinstance(data.get("rounds"), dict) or \
                not all(isinstance(k, str) and isinstance(v, str) and _is_hex32(k) and
                        _is_hex32(v) for k, v in data["rounds"].items()):
            raise ConfigError("not a custodian ledger")
        return cls(data["ciphertexts"], dict(data["rounds"]))


def _is_hex32(text: str) -> bool:
    try:
        return len(bytes.fromhex(text)) == 32
    except ValueError:
        return False


def _vote_payload(context: KeyContext, index: int, set_digest: bytes) -> bytes:
    return canonical(_VOTE, context.digest, index, set_digest)


def _round_key(context: KeyContext) -> str:
    """The ledger's key for a round: its federation and id only, so that a server that
    re-announces the round under other settings (another context) still finds the vote."""
    return hashlib.sha256(canonical(b"ckks-threshold/ledger-round", context.federation_id,
                                    context.key_id)).hexdigest()


def _remember(ledger: CustodianLedger, context: KeyContext, set_digest: bytes
              ) -> CustodianLedger:
    key = _round_key(context)
    if ledger.rounds.get(key, set_digest.hex()) != set_digest.hex():
        raise RoundStateError("this custodian already accepted another set of contributions "
                              "for this round; two sums would reveal their difference")
    return CustodianLedger(ledger.ciphertexts, {**ledger.rounds, key: set_digest.hex()})


def vote(context: KeyContext, ledger: CustodianLedger, index: int,
         identity_key: Ed25519PrivateKey, contributors: ContributorSet
         ) -> tuple[CustodianLedger, SetVote]:
    """Accept ``contributors`` as the round's one set. Store the ledger before sending."""
    digest = contributors.digest(context)
    ledger = _remember(ledger, context, digest)
    return ledger, SetVote(index, digest, sign(identity_key,
                                               _vote_payload(context, index, digest)))


def verify_vote(context: KeyContext, set_vote: SetVote) -> None:
    verify_signature(context.entry(set_vote.index).identity_key, set_vote.signature,
                     _vote_payload(context, set_vote.index, set_vote.set_digest))


def _check_certificate(context: KeyContext, digest: bytes,
                       certificate: Sequence[SetVote]) -> None:
    voters = set()
    for v in certificate:
        if v.set_digest == digest and v.index not in voters:
            verify_vote(context, v)
            voters.add(v.index)
    quorum = context.params.set_quorum
    if len(voters) < quorum:
        raise ThresholdNotMetError(f"{len(voters)} custodians voted for this set of "
                                   f"contributions; a sum is decrypted only with {quorum}")


def _checked_sum(context: KeyContext, request: DecryptionRequest,
                 roster: Mapping[int, bytes], min_clients: int) -> np.ndarray:
    params = context.params
    count = len(request.uploads)
    need = max(min_clients, MIN_COHORT)
    if count < need:
        raise ThresholdNotMetError(f"only {count} contributions; at least {need} are "
                                   "needed before a sum is decrypted")
    if count > params.flooding.max_clients:
        raise ProtocolError(f"{count} contributions, more than the {params.flooding.max_clients}"
                            " the flooding noise was sized for")
    if not 1 <= request.dimension <= MAX_DIMENSION:
        raise ConfigError(f"a dimension of {request.dimension} is outside 1..{MAX_DIMENSION}")
    round_id = context.key_id.encode()
    accumulator = EncryptedSumAccumulator(params.ckks, request.dimension, round_id=round_id)
    for u in request.uploads:
        if u.client_id not in roster:
            raise ConfigError(f"an upload from client {u.client_id}, who is not on the roster "
                              "this custodian pinned")
        verify_upload_signature(roster[u.client_id], u.signature, round_id, u.client_id,
                                u.upload)
        accumulator.add(u.upload, client_id=u.client_id, signature=u.signature)
    accumulator.close()
    return accumulator.ciphertext_sum().reshape(-1, params.ckks.words_per_chunk)


def decide_and_decrypt(context: KeyContext, share: ThresholdKeyShare,
                       ledger: CustodianLedger, request: DecryptionRequest, *,
                       roster: Mapping[int, bytes], min_clients: int,
                       rng: RandomSource) -> tuple[CustodianLedger, np.ndarray]:
    """Check ``request`` and return the updated ledger with the partial decryption of the
    round (``context.key_id``) under the key ``context`` names.

    Store the returned ledger durably before sending the partial anywhere."""
    params = context.params
    if share.index not in request.active or len(request.active) != params.threshold or \
            len(set(request.active)) != len(request.active) or \
            not all(1 <= i <= params.custodians for i in request.active):
        raise ProtocolError(f"the active set must be {params.threshold} distinct custodians "
                            "including this one")
    contributors = ContributorSet.of(request.uploads)
    digest = contributors.digest(context)
    ledger = _remember(ledger, context, digest)
    _check_certificate(context, digest, request.certificate)
    ciphertexts = _checked_sum(context, request, roster, min_clients)
    used = ledger.ciphertexts + ciphertexts.shape[0]
    if used > params.flooding.max_ciphertexts:
        raise RoundStateError("this key share reached the number of decryptions its flooding "
                              "was sized for; rotate the key")
    partial = partial_decryption(params, share, request.active, ciphertexts, rng)
    return CustodianLedger(used, ledger.rounds), partial
