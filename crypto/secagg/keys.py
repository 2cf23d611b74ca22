"""The two secrets each client shares, and the keys they stand for.

Both are scalars of the Ed25519 group (so their shares can carry Feldman
commitments, :mod:`blindsum.crypto.hazmat.feldman`); what they key is derived
from them with SHA-256 under a purpose label: the self-mask PRG seed ``b_u``,
and the X25519 private key whose public half the client advertises for its
pair masks. The client and the server derive both the same way.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from blindsum.crypto.hazmat import kex
from blindsum.crypto.hazmat.feldman import derive_key

__all__ = ["mask_private_key", "self_mask_seed"]

_SELF_SEED_PURPOSE = b"secagg-self-mask-seed"
_MASK_KEY_PURPOSE = b"secagg-mask-key"


def self_mask_seed(secret: bytes) -> bytes:
    """The 256-bit PRG seed of the self mask, from its shared secret (32 bytes)."""
    return derive_key(int.from_bytes(secret, "big"), purpose=_SELF_SEED_PURPOSE)


def mask_private_key(secret: bytes) -> X25519PrivateKey:
    """The X25519 key of the pair masks, from its shared secret (32 bytes)."""
    return kex.load_private_key(derive_key(int.from_bytes(secret, "big"),
                                           purpose=_MASK_KEY_PURPOSE))
