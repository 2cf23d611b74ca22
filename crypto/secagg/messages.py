"""The messages of a SecAgg+ round, validated on construction.

Stages and who sends what (client ``u``, its neighbours ``N(u)``)::

    1. advertise keys   u -> S : KeyAdvert (two X25519 keys, Ed25519-signed)
                        S -> u : adverts of N(u) that arrived
    2. share keys       u -> S : one ShareEnvelope per neighbour (AES-GCM)
                        S -> u : envelopes addressed to u
    3. masked input     u -> S : MaskedInput  y_u = x_u + PRG(b_u) + sum ±PRG(s_uv)
                        S -> u : SurvivorSet (who sent input, who dropped)
    4. consistency      u -> S : ConsistencySignature over the SurvivorSet
                        S -> u : the signatures collected
    5. unmask           u -> S : UnmaskShares: b-shares of survivors, key shares of the dropped

Every size is checked in ``__post_init__``, so a message object that exists is
well-formed; decoders build these objects and so never read past a checked size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from blindsum.crypto.hazmat import kex, shamir
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.signing import SIGNATURE_BYTES
from blindsum.crypto.secagg.context import MAX_CLIENT_ID
from blindsum.errors import MalformedMessageError

__all__ = [
    "ConsistencySignature",
    "KeyAdvert",
    "MaskedInput",
    "ShareEnvelope",
    "SharePair",
    "SurvivorSet",
    "UnmaskShares",
]

_SHARE_PLAINTEXT_VERSION: Final = 1
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
class KeyAdvert:
    """Stage 1: a client's two fresh X25519 public keys, signed with its identity key."""

    sender: int
    cipher_public_key: bytes
    mask_public_key: bytes
    signature: bytes

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_bytes(self.cipher_public_key, kex.KEY_BYTES, "cipher_public_key")
        _check_bytes(self.mask_public_key, kex.KEY_BYTES, "mask_public_key")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")

    @staticmethod
    def signed_payload(context: bytes, sender: int, cipher_pk: bytes, mask_pk: bytes) -> bytes:
        """The bytes a client signs to advertise its keys in round ``context``."""
        return canonical(b"secagg/advert", context, sender, cipher_pk, mask_pk)


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
    """Stage 2: an AES-GCM envelope from ``sender`` that only ``recipient`` can open."""

    sender: int
    recipient: int
    ciphertext: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_id(self.recipient, "recipient")
        if self.sender == self.recipient:
            raise MalformedMessageError("an envelope cannot be addressed to its sender")
        _check_bytes(self.ciphertext, ENVELOPE_BYTES, "ciphertext")

    @staticmethod
    def associated_data(context: bytes, sender: int, recipient: int) -> bytes:
        return canonical(b"secagg/envelope", context, sender, recipient)


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """Stage 3: the masked, encoded update (one word per coordinate)."""

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
    """Stage 3 result: who sent a masked input and who shared keys but dropped."""

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
    """Stage 4: a survivor's Ed25519 signature over the :class:`SurvivorSet`."""

    sender: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        _check_bytes(self.signature, SIGNATURE_BYTES, "signature")


@dataclass(frozen=True)
class UnmaskShares:
    """Stage 5: shares a survivor reveals, keyed by the secret's owner.

    ``self_mask_shares`` are shares of surviving neighbours' self-mask seeds;
    ``mask_key_shares`` are shares of dropped neighbours' mask keys. An honest
    client never puts the same owner in both.
    """

    sender: int
    self_mask_shares: Mapping[int, int] = field(default_factory=dict, repr=False)
    mask_key_shares: Mapping[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        _check_id(self.sender, "sender")
        for shares in (self.self_mask_shares, self.mask_key_shares):
            for owner, value in shares.items():
                _check_id(owner, "share owner")
                if not isinstance(value, int) or not 0 <= value < shamir.PRIME:
                    raise MalformedMessageError("share is not a field element")
        if set(self.self_mask_shares) & set(self.mask_key_shares):
            raise MalformedMessageError("a peer's two secrets can never both be revealed")
