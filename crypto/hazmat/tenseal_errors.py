"""Translate TenSEAL's exceptions into blindsum's at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from blindsum.errors import DecryptionError

__all__ = ["map_tenseal_exceptions"]


@contextmanager
def map_tenseal_exceptions(what: str) -> Iterator[None]:
    """TenSEAL raises ValueError/RuntimeError/TypeError for bad bytes or keys: one opaque error."""
    try:
        yield
    except (ValueError, RuntimeError, TypeError) as exc:
        raise DecryptionError(f"{what} failed") from exc
