"""Bearer tokens and invite codes: 256-bit random, stored as SHA-256, compared in constant time.

A token is 32 bytes from the OS CSPRNG, shown once as URL-safe base64 with a
prefix that says what it is. Because tokens are uniformly random, a plain
SHA-256 is the right storage hash (a slow password hash buys nothing). Lookups
go by hash, then the found hash is compared with ``hmac.compare_digest``, and
every failure looks the same to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from blindsum.crypto import base64url
from blindsum.errors import AuthError, MalformedMessageError

__all__ = ["CLIENT_PREFIX", "CUSTODIAN_PREFIX", "INVITE_PREFIX", "check_digest", "hash_secret",
           "new_secret"]

CLIENT_PREFIX: Final = "bsc_"
CUSTODIAN_PREFIX: Final = "bsk_"
INVITE_PREFIX: Final = "bsi_"
_BYTES: Final = 32


def new_secret(prefix: str) -> str:
    """A fresh 256-bit secret, e.g. ``bsc_...`` (43 base64url characters after the prefix)."""
    return prefix + base64url.encode(secrets.token_bytes(_BYTES))


def hash_secret(secret: str, prefix: str) -> bytes:
    """SHA-256 of the decoded secret; malformed secrets raise the same error as wrong ones."""
    if not secret.startswith(prefix):
        raise AuthError("invalid credentials")
    body = secret[len(prefix):]
    try:
        raw = base64url.decode(body, size=_BYTES)
    except MalformedMessageError:
        raise AuthError("invalid credentials") from None
    return hashlib.sha256(raw).digest()


def check_digest(found: bytes | None, presented: bytes) -> None:
    """Constant-time comparison of a stored hash with the presented one."""
    if found is None or not hmac.compare_digest(found, presented):
        raise AuthError("invalid credentials")
