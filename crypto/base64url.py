"""base64url without padding: the one text codec for bytes on the wire and in state files.

Decoding is strict (RFC 4648 section 5 alphabet, optional correct padding, canonical:
the text must be exactly what :func:`encode` gives for the bytes), and sizes are
checked before anything is decoded, so two different texts never name the same bytes
and a huge string costs nothing.
"""

from __future__ import annotations

import base64
import re
from typing import Final

from blindsum.errors import MalformedMessageError

__all__ = ["MAX_BYTES", "decode", "encode"]

MAX_BYTES: Final = 3072
"""The largest value decoded unless a caller says otherwise (keys, signatures, seeds)."""
_TEXT = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def encode(data: bytes) -> str:
    """``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: object, *, size: int | None = None, max_bytes: int = MAX_BYTES,
           what: str = "value") -> bytes:
    """The bytes ``text`` encodes; exactly ``size`` of them if given.

    Raises :class:`~blindsum.errors.MalformedMessageError` (naming ``what``) for anything
    else: not text, too long, outside the alphabet, wrongly padded, or not canonical.
    """
    limit = size if size is not None else max_bytes
    if not isinstance(text, str) or len(text) > 4 * ((limit + 2) // 3):
        raise MalformedMessageError(f"{what}: expected base64url text of at most {limit} bytes")
    if not _TEXT.fullmatch(text):
        raise MalformedMessageError(f"{what}: not base64url text")
    body = text.rstrip("=")
    if text != body and len(text) % 4:
        raise MalformedMessageError(f"{what}: wrongly padded base64url text")
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise MalformedMessageError(f"{what}: not base64url text") from exc
    if encode(data) != body or (text != body and base64.urlsafe_b64encode(data).decode() != text):
        raise MalformedMessageError(f"{what}: not the canonical base64url text of its bytes")
    if size is not None and len(data) != size:
        raise MalformedMessageError(f"{what}: expected {size} bytes, got {len(data)}")
    return data
