"""Spending an invite: register an identity key, receive a bearer token."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.client_sdk.flows import Call, Flow
from blindsum.client_sdk.transport import Transport
from blindsum.crypto.enrollment import sign_enrollment
from blindsum.crypto.identity import identity_public_bytes
from blindsum.wire import EnrollRequest, EnrollResponse

__all__ = ["enroll_with_invite", "enrollment"]


def enrollment(federation_id: str, invite_code: str, identity_key: Ed25519PrivateKey,
               label: str = "") -> Flow[EnrollResponse]:
    """The enrollment flow. Never retried: an invite works once."""
    body = EnrollRequest(invite_code=invite_code,
                         identity_key=identity_public_bytes(identity_key),
                         proof=sign_enrollment(identity_key, federation_id, invite_code),
                         label=label)
    reply = yield Call("POST", f"/v1/federations/{federation_id}/enroll",
                       json=body.model_dump(mode="json"), retry=False)
    assert reply is not None
    return EnrollResponse.model_validate(reply.json())


def enroll_with_invite(transport: Transport, federation_id: str, invite_code: str,
                       identity_key: Ed25519PrivateKey, label: str = "") -> tuple[int, str]:
    """Enroll over a synchronous transport; returns ``(client_id, token)``."""
    response = transport.run(enrollment(federation_id, invite_code, identity_key, label))
    return response.client_id, response.token
