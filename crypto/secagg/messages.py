"""The messages of a SecAgg+ round, validated on construction.

Stages and who sends what (client ``u``, its neighbours ``N(u)``)::

    0. commit seed      u -> S : SeedCommitment: H(r_u) for 32 random bytes r_u, signed
                        S -> u : every commitment that arrived
    1. advertise keys   u -> S : KeyAdvert (two X25519 keys and r_u, signed together with
                                 the digest of the commitments u was shown)
                        S -> u : every advert that arrived (the reveals fix the graph)
    2. share keys       u -> S : one ShareEnvelope per neighbour (AES-GCM), each carrying
                                 u's Feldman commitments to both sharing polynomials
                        S -> u : envelopes addressed to u
    3. check shares     u -> S : Accusations: the neighbours whose envelopes failed (did not
                                 open, or hold shares off the commitments or another key)
                        S -> u : Exclusions: who is out before anyone masks (too few usable
                                 share holders, too many accusations, or silent)
    4. masked input     u -> S : MaskedInput  y_u = x_u + PRG(b_u) + sum ±PRG(s_uv) over the
                                 neighbours whose envelopes arrived, less the excluded
                        S -> u : SurvivorSet (who sent input, who dropped after masking)
    5. consistency      u -> S : ConsistencySignature over the SurvivorSet
                        S -> u : the signatures collected (the certificate)
    6. unmask           u -> S : UnmaskShares: b-shares of survivors, key shares and pair
                                 seeds of the dropped

Every size is checked in ``__post_init__``, so a message object that exists is
well-formed; decoders build these objects and so never read past a checked size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from blindsum.crypto.hazmat import feldman, kex, shamir
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.prg import SEED_BYTES
from blindsum.crypto.hazmat.signing import SIGNATURE_BYTES
from blindsum.crypto.secagg.context import MAX_CLIENT_ID
from blindsum.errors import MalformedMessageError

__all__ = [
    "Accusations",
    "ConsistencySignature",
    "Exclusions",
    "KeyAdvert",
    "SeedCommitment",
    "MaskedInput",
    "ShareEnvelope",
    "SharePair",
    "SurvivorSet",
    "UnmaskShares",
]

MAX_THRESHOLD: Final = 4096
"""No round shares with a threshold above this (it bounds what a decoder accepts)."""
_SHARE_PLAINTEXT_VERSION: Final = 2
SHARE_PLAINTEXT_BYTES: Final = 1 + 4 + 4 + 2 * shamir.SHARE_BYTES
ENVELOPE_BYTES: Final = kex.NONCE_BYTES + SHARE_PLAINTEXT_BYTES + 16


def _check_id(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_CLIENT_ID:
        raise MalformedMessageError(f"{what} is not a valid client id")


def _check_bytes(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedMessageError(f"{what} must be exactly {size} bytes")


def _check_ids(values: tuple[int, ...], what: str) -> None:
    for v in values:
        _check_id(v, what)
    if list(values) != sorted(set(values)):
        raise MalformedMessageError(f"{what} must be sorted and distinct")


@dataclass(frozen=True)
class SeedCommitment:
    """Stage 0: a client's commitment to its share of the graph seed, signed with its
    identity key (so the server cannot commit, and later reveal, on anyone's behalf)."""

    sender: int
    commitment: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_bytes(self.commitment, SEED_BYTES, "commitment")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")

    @staticmethod
    def signed_payload(context: bytes, sender: int, commitment: bytes) -> bytes:
        """The bytes a client signs to commit in round ``context``."""
        return canonical(b"secagg/seed-commitment", context, sender, commitment)


@dataclass(frozen=True)
class KeyAdvert:
    """Stage 1: a client's two fresh X25519 public keys and its graph-seed reveal, signed
    with its identity key over the digest of the commitments it was shown (``seen``)."""

    sender: int
    cipher_public_key: bytes
    mask_public_key: bytes
    seed_reveal: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_bytes(self.cipher_public_key, kex.KEY_BYTES, "cipher_public_key")
        _check_bytes(self.mask_public_key, kex.KEY_BYTES, "mask_public_key")
        _check_bytes(self.seed_reveal, SEED_BYTES, "seed_reveal")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")

    @staticmethod
    def signed_payload(context: bytes, seen: bytes, sender: int, cipher_pk: bytes,
                       mask_pk: bytes, seed_reveal: bytes) -> bytes:
        """The bytes ``sender`` signs in round ``context``, having been shown the commitments
        whose digest is ``seen``."""
        return canonical(b"secagg/advert", context, seen, sender, cipher_pk, mask_pk,
                         seed_reveal)

    def payload(self, context: bytes, seen: bytes) -> bytes:
        """:meth:`signed_payload` of this advert."""
        return self.signed_payload(context, seen, self.sender, self.cipher_public_key,
                                   self.mask_public_key, self.seed_reveal)


@dataclass(frozen=True)
class SharePair:
    """What one envelope carries: the sender's two shares for one recipient."""

    sender: int
    recipient: int
    self_mask_share: int = field(repr=False)
    mask_key_share: int = field(repr=False)

    def to_bytes(self) -> bytes:
        return b"".join([
            bytes([_SHARE_PLAINTEXT_VERSION]),
            self.sender.to_bytes(4, "big"),
            self.recipient.to_bytes(4, "big"),
            shamir.encode_share(self.self_mask_share),
            shamir.encode_share(self.mask_key_share),
        ])

    @classmethod
    def from_bytes(cls, data: bytes) -> SharePair:
        if len(data) != SHARE_PLAINTEXT_BYTES or data[0] != _SHARE_PLAINTEXT_VERSION:
            raise MalformedMessageError("malformed share plaintext")
        b_share, k_share = data[9 : 9 + shamir.SHARE_BYTES], data[9 + shamir.SHARE_BYTES :]
        return cls(
            sender=int.from_bytes(data[1:5], "big"),
            recipient=int.from_bytes(data[5:9], "big"),
            self_mask_share=shamir.decode_share(b_share),
            mask_key_share=shamir.decode_share(k_share),
        )


@dataclass(frozen=True)
class ShareEnvelope:
    """Stage 2: an AES-GCM envelope from ``sender`` that only ``recipient`` can open, with the
    sender's Feldman commitments to its two sharing polynomials (the same in every envelope
    of one sender: the server refuses a sender whose envelopes differ)."""

    sender: int
    recipient: int
    ciphertext: bytes = field(repr=False)
    self_mask_commitments: tuple[bytes, ...] = field(repr=False)
    mask_key_commitments: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_id(self.recipient, "recipient")
        if self.sender == self.recipient:
            raise MalformedMessageError("an envelope cannot be addressed to its sender")
        _check_bytes(self.ciphertext, ENVELOPE_BYTES, "ciphertext")
        for points in (self.self_mask_commitments, self.mask_key_commitments):
            if not isinstance(points, tuple) or not 1 <= len(points) <= MAX_THRESHOLD:
                raise MalformedMessageError("commitments are 1 to 4096 points")
            for point in points:
                _check_bytes(point, feldman.POINT_BYTES, "commitment")
        if len(self.self_mask_commitments) != len(self.mask_key_commitments):
            raise MalformedMessageError("both polynomials have the threshold's degree")

    @staticmethod
    def associated_data(context: bytes, sender: int, recipient: int) -> bytes:
        return canonical(b"secagg/envelope", context, sender, recipient)

    @property
    def commitments(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """(self-mask, mask-key) commitments: what one sender's envelopes must all agree on."""
        return self.self_mask_commitments, self.mask_key_commitments


@dataclass(frozen=True)
class Accusations:
    """Stage 3: the neighbours whose envelopes to ``sender`` failed (did not open, or held
    shares off the dealer's commitments, or of another key than it advertised). The sender
    holds no shares of them; the server counts who can still hold each client's shares."""

    sender: int
    accused: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_ids(self.accused, "accused")


@dataclass(frozen=True)
class Exclusions:
    """Stage 3 result: the clients out of the round before anyone masks: offenders (fewer than
    t neighbours hold usable shares of them, or they accused more than they could have) and
    the silent. Nobody masks with them, so their masks never need removing."""

    excluded: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_ids(self.excluded, "excluded")


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """Stage 4: the masked, encoded update (one word per coordinate)."""

    sender: int
    vector: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        if not isinstance(self.vector, np.ndarray) or self.vector.ndim != 1:
            raise MalformedMessageError("masked input must be a 1-D array")
        if self.vector.dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
            raise MalformedMessageError("masked input words must be uint32 or uint64")

    @property
    def nbytes(self) -> int:
        """Bytes on the wire: exactly the words, no framing."""
        return int(self.vector.nbytes)


@dataclass(frozen=True)
class SurvivorSet:
    """Stage 4 result: who sent a masked input, and who was to mask but dropped."""

    survivors: tuple[int, ...]
    dropped: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_ids(self.survivors, "survivors")
        _check_ids(self.dropped, "dropped")

    def signed_payload(self, context: bytes) -> bytes:
        """The bytes each survivor signs in the consistency check."""
        return canonical(
            b"secagg/survivors", context,
            b"".join(i.to_bytes(4, "big") for i in self.survivors),
            b"".join(i.to_bytes(4, "big") for i in self.dropped),
        )


@dataclass(frozen=True)
class ConsistencySignature:
    """Stage 5: a survivor's Ed25519 signature over the :class:`SurvivorSet`."""

    sender: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")


@dataclass(frozen=True)
class UnmaskShares:
    """Stage 6: what a survivor reveals, keyed by the secret's owner.

    ``self_mask_shares`` are shares of surviving neighbours' self-mask seeds;
    ``mask_key_shares`` are shares of dropped neighbours' mask keys, and ``pair_seeds``
    the sender's pair-mask seeds with those dropped neighbours (what the server would
    derive from their rebuilt keys anyway; with them it needs no key when every such
    survivor answers). An honest client never puts one owner among both the survivors'
    and the dropped.
    """

    sender: int
    self_mask_shares: Mapping[int, int] = field(default_factory=dict, repr=False)
    mask_key_shares: Mapping[int, int] = field(default_factory=dict, repr=False)
    pair_seeds: Mapping[int, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        for shares in (self.self_mask_shares, self.mask_key_shares):
            for owner, value in shares.items():
                _check_id(owner, "share owner")
                if not isinstance(value, int) or not 0 <= value < shamir.PRIME:
                    raise MalformedMessageError("share is not a field element")
        for owner, seed in self.pair_seeds.items():
            _check_id(owner, "pair seed owner")
            _check_bytes(seed, SEED_BYTES, "pair seed")
        if set(self.self_mask_shares) & (set(self.mask_key_shares) | set(self.pair_seeds)):
            raise MalformedMessageError("a peer's two secrets can never both be revealed")
