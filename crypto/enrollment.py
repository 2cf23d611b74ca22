"""What an enrolling client signs: proof that it holds the identity key it registers.

Shared by the SDK (which signs) and the aggregator (which verifies). The
payload binds the federation and the invite, so a proof cannot be replayed
into another federation or with another invite.
"""

from __future__ import annotations

import hashlib

from blindsum.crypto.hazmat.canonical import canonical

__all__ = ["enrollment_payload"]


def enrollment_payload(federation_id: str, invite_code: str) -> bytes:
    return canonical(b"blindsum/enroll", federation_id,
                     hashlib.sha256(invite_code.encode()).digest())
