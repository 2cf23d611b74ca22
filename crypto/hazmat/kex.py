"""X25519 agreement + HKDF-SHA256 with domain-separated ``info``, and AES-GCM envelopes.

Flower derives every SecAgg key with ``HKDF(info=None)``: one shared secret then
yields the same key for share encryption and for masks, in every round. Here the
``info`` string names the protocol version, the purpose, the round (a digest of
the whole round context) and both client ids, so keys never repeat across
purposes, rounds or pairs.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from blindsum.errors import CryptoError, DecryptionError

__all__ = [
    "KEY_BYTES",
    "check_public_key",
    "NONCE_BYTES",
    "derive_pair_key",
    "generate_private_key",
    "hkdf_info",
    "key_from_shared",
    "load_private_key",
    "load_public_key",
    "open_envelope",
    "private_bytes",
    "public_bytes",
    "seal_envelope",
    "seal_envelope_with_nonce",
]

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_PROTOCOL: Final = b"blindsum/v1"


def generate_private_key() -> X25519PrivateKey:
    """A fresh X25519 private key (from the OS CSPRNG)."""
    return X25519PrivateKey.generate()


def public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The 32-byte raw public key."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_bytes(key: X25519PrivateKey) -> bytes:
    """The 32-byte raw private key (the secret that gets Shamir-shared)."""
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def load_public_key(data: bytes) -> X25519PublicKey:
    """Parse a raw public key, checking its size first."""
    if not isinstance(data, bytes) or len(data) != KEY_BYTES:
        raise DecryptionError("malformed public key")
    return X25519PublicKey.from_public_bytes(data)


def load_private_key(data: bytes) -> X25519PrivateKey:
    """Parse a raw private key, checking its size first."""
    if not isinstance(data, bytes) or len(data) != KEY_BYTES:
        raise DecryptionError("malformed private key")
    return X25519PrivateKey.from_private_bytes(data)


def check_public_key(data: bytes) -> None:
    """Refuse a public key no honest party could have advertised: malformed, or of low order
    (every key agreement with it gives the all-zero secret, which X25519 users must refuse).

    Raises:
        CryptoError: the key is unusable.
    """
    probe = X25519PrivateKey.generate()
    try:
        probe.exchange(load_public_key(data))
    except ValueError as exc:
        raise CryptoError("low-order public key") from exc


def hkdf_info(purpose: bytes, context: bytes, first: int, second: int) -> bytes:
    """``blindsum/v1|<purpose>|<context hex>|<first>|<second>``.

    Callers order ``(first, second)``: ascending for symmetric uses (pairwise
    masks), sender-then-recipient for directional ones (share envelopes).
    """
    if b"|" in purpose:
        raise ValueError("purpose must not contain '|'")
    return b"|".join(
        [_PROTOCOL, purpose, context.hex().encode(), str(first).encode(), str(second).encode()]
    )


def derive_pair_key(
    private: X25519PrivateKey,
    peer_public: bytes,
    *,
    purpose: bytes,
    context: bytes,
    first: int,
    second: int,
) -> bytes:
    """X25519 with the peer, then HKDF-SHA256 to 32 bytes under ``hkdf_info``.

    Raises:
        CryptoError: the peer key is malformed or of low order (all-zero secret).
    """
    try:
        shared = private.exchange(load_public_key(peer_public))
    except ValueError as exc:  # low-order point: cryptography refuses the zero secret
        raise CryptoError("key agreement failed") from exc
    return key_from_shared(shared, purpose=purpose, context=context, first=first,
                           second=second)


def key_from_shared(shared: bytes, *, purpose: bytes, context: bytes, first: int,
                    second: int) -> bytes:
    """HKDF-SHA256 of an X25519 shared secret to 32 bytes under ``hkdf_info`` (the second
    half of :func:`derive_pair_key`, for a shared secret computed another way)."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=hkdf_info(purpose, context, first, second),
    )
    return hkdf.derive(shared)


def seal_envelope_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Deterministic twin of :func:`seal_envelope` (for known-answer tests)."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def seal_envelope(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; output is ``nonce || ciphertext || tag``."""
    return seal_envelope_with_nonce(key, os.urandom(NONCE_BYTES), plaintext, aad)


def open_envelope(key: bytes, envelope: bytes, aad: bytes) -> bytes:
    """Authenticate and decrypt an envelope; any failure is one opaque error."""
    if len(envelope) < NONCE_BYTES + 16:
        raise DecryptionError("envelope failed to authenticate")
    try:
        return AESGCM(key).decrypt(envelope[:NONCE_BYTES], envelope[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError("envelope failed to authenticate") from exc
