"""Ed25519 identity signatures: every client signs its key adverts and survivor sets.

``verify_signature`` raises and never returns a bool (Flower's ``verify_hmac``
returns one, which invites an unchecked result).
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from blindsum.errors import InvalidSignatureError

__all__ = [
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "generate_identity_key",
    "identity_public_bytes",
    "load_identity_public_key",
    "sign",
    "verify_signature",
]

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64


def generate_identity_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 identity key."""
    return Ed25519PrivateKey.generate()


def identity_public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte raw public identity key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_identity_public_key(data: bytes) -> Ed25519PublicKey:
    """Parse a raw Ed25519 public key, checking its size first."""
    if not isinstance(data, bytes) or len(data) != PUBLIC_KEY_BYTES:
        raise InvalidSignatureError("malformed identity key")
    try:
        return Ed25519PublicKey.from_public_bytes(data)
    except ValueError as exc:
        raise InvalidSignatureError("malformed identity key") from exc


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign ``message``; Ed25519 is deterministic, so this is its own KAT twin."""
    return key.sign(message)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise :class:`InvalidSignatureError` unless ``signature`` is valid."""
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise InvalidSignatureError("signature did not verify")
    try:
        load_identity_public_key(public_key).verify(signature, message)
    except InvalidSignature as exc:
        raise InvalidSignatureError("signature did not verify") from exc
