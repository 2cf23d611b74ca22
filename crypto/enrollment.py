"""What an enrolling client signs: proof that it holds the identity key it registers.

Shared by the SDK (which signs) and the aggregator (which verifies). The
payload binds the federation and the invite, so a proof cannot be replayed
into another federation or with another invite.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.signing import sign, verify_signature

__all__ = ["enrollment_payload", "sign_enrollment", "verify_enrollment"]


def enrollment_payload(federation_id: str, invite_code: str) -> bytes:
    return canonical(b"blindsum/enroll", federation_id,
                     hashlib.sha256(invite_code.encode()).digest())


def sign_enrollment(identity_key: Ed25519PrivateKey, federation_id: str, invite_code: str) -> bytes:
    """The enrolling client's proof of possession of ``identity_key``."""
    return sign(identity_key, enrollment_payload(federation_id, invite_code))


def verify_enrollment(public_key: bytes, proof: bytes, federation_id: str,
                      invite_code: str) -> None:
    """Raise :class:`~blindsum.errors.InvalidSignatureError` unless ``proof`` is valid."""
    verify_signature(public_key, proof, enrollment_payload(federation_id, invite_code))
