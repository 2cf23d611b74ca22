"""Unambiguous byte encodings of field tuples, for everything that is signed or hashed."""

from __future__ import annotations

__all__ = ["canonical"]


def canonical(*fields: bytes | int | str) -> bytes:
    """Unambiguous concatenation: a type byte and a length prefix for every field."""
    out = bytearray()
    for item in fields:
        if isinstance(item, bool):
            raise TypeError("booleans are not canonical fields")
        if isinstance(item, int):
            data, tag = item.to_bytes(16, "big", signed=True), b"i"
        elif isinstance(item, str):
            data, tag = item.encode("utf-8"), b"s"
        elif isinstance(item, bytes):
            data, tag = item, b"b"
        else:
            raise TypeError(f"cannot encode {type(item).__name__} canonically")
        out += tag + len(data).to_bytes(4, "big") + data
    return bytes(out)
