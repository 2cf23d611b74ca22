"""Content-addressed blob store for masked vectors and ciphertexts.

A blob is written to a temporary file, fsynced, renamed to its SHA-256 and the
directory fsynced, all before the caller acknowledges the upload: after a crash
a blob either exists whole under its hash or not at all. Writing the same bytes
twice is a no-op, which makes retried uploads idempotent.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from blindsum.errors import NotFoundError

__all__ = ["BlobStore", "LocalBlobStore"]

_CHUNK = 1 << 20


class BlobStore(Protocol):
    """Where uploads live; the database keeps only their digests."""

    def put(self, chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        """Store a stream durably; return (sha256 hex, size). Refuses more than ``max_bytes``."""
        ...

    def get(self, digest: str) -> bytes:
        """The blob's bytes."""
        ...

    def exists(self, digest: str) -> bool:
        ...


class LocalBlobStore:
    """Blobs under ``root/ab/cdef...`` with durable, atomic writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFoundError("no such blob")
        return self.root / digest[:2] / digest[2:]

    def put(self, chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        hasher, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root / "tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ValueError(f"blob exceeds {max_bytes} bytes")
                    hasher.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            digest = hasher.hexdigest()
            final = self._path(digest)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return digest, size
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError("no such blob") from exc

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
