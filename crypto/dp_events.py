"""The signed form of a DP event: what a client asserts it spent in one round.

Shared by the SDK (which signs) and the ledger (which verifies and stores the
exact bytes signed), so an auditor can re-verify every row.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.signing import sign, verify_signature

__all__ = ["event_payload", "sign_event", "verify_event"]


def event_payload(federation_id: str, round_id: str, client_id: int, event_bytes: bytes) -> bytes:
    """What the client's identity key signs."""
    return canonical(b"blindsum/dp-event", federation_id, round_id, client_id, event_bytes)


def sign_event(identity_key: Ed25519PrivateKey, federation_id: str, round_id: str,
               client_id: int, event_bytes: bytes) -> bytes:
    """The client's signature over its canonical event
    (:meth:`blindsum.wire.DPEvent.canonical`)."""
    return sign(identity_key, event_payload(federation_id, round_id, client_id, event_bytes))


def verify_event(public_key: bytes, signature: bytes, federation_id: str, round_id: str,
                 client_id: int, event_bytes: bytes) -> None:
    """Raise :class:`~blindsum.errors.InvalidSignatureError` unless ``signature`` is valid."""
    verify_signature(public_key, signature,
                     event_payload(federation_id, round_id, client_id, event_bytes))
