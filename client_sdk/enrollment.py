"""Spending an invite: register an identity key, receive a bearer token."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.client_sdk.transport import Transport
from blindsum.crypto import base64url
from blindsum.crypto.enrollment import sign_enrollment
from blindsum.crypto.identity import identity_public_bytes

__all__ = ["enroll_with_invite"]


def enroll_with_invite(transport: Transport, federation_id: str, invite_code: str,
                       identity_key: Ed25519PrivateKey, label: str = "") -> tuple[int, str]:
    """Enroll; returns ``(client_id, token)``. Never retried: an invite works once."""
    body = {"invite_code": invite_code,
            "identity_key": base64url.encode(identity_public_bytes(identity_key)),
            "proof": base64url.encode(sign_enrollment(identity_key, federation_id, invite_code)),
            "label": label}
    data = transport.post(f"/v1/federations/{federation_id}/enroll", json=body,
                          retry=False).json()
    return int(data["client_id"]), str(data["token"])
