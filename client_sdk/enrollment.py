"""Spending an invite: register an identity key, receive a bearer token."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.client_sdk.transport import Transport
from blindsum.crypto.enrollment import enrollment_payload
from blindsum.crypto.hazmat.signing import identity_public_bytes, sign

__all__ = ["b64", "enroll_with_invite"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enroll_with_invite(transport: Transport, federation_id: str, invite_code: str,
                       identity_key: Ed25519PrivateKey, label: str = "") -> tuple[int, str]:
    """Enroll; returns ``(client_id, token)``. Never retried: an invite works once."""
    body = {"invite_code": invite_code, "identity_key": b64(identity_public_bytes(identity_key)),
            "proof": b64(sign(identity_key, enrollment_payload(federation_id, invite_code))),
            "label": label}
    data = transport.post(f"/v1/federations/{federation_id}/enroll", json=body,
                          retry=False).json()
    return int(data["client_id"]), str(data["token"])
