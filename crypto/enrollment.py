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


def enrollment_payload(federation_id: str, invite_code: str,
                       exchange_key: bytes | None = None) -> bytes:
    """A client's statement; a custodian's also names the X25519 key it receives
    re-shares on (another domain, so neither proof serves as the other)."""
    invite = hashlib.sha256(invite_code.encode()).digest()
    if exchange_key is None:
        return canonical(b"blindsum/enroll", federation_id, invite)
    return canonical(b"blindsum/enroll-custodian", federation_id, invite, exchange_key)


def sign_enrollment(identity_key: Ed25519PrivateKey, federation_id: str, invite_code: str,
                    exchange_key: bytes | None = None) -> bytes:
    """The enrolling party's proof of possession of ``identity_key``."""
    return sign(identity_key, enrollment_payload(federation_id, invite_code, exchange_key))


def verify_enrollment(public_key: bytes, proof: bytes, federation_id: str,
                      invite_code: str, exchange_key: bytes | None = None) -> None:
    """Raise :class:`~blindsum.errors.InvalidSignatureError` unless ``proof`` is valid."""
    verify_signature(public_key, proof,
                     enrollment_payload(federation_id, invite_code, exchange_key))
