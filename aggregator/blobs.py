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

__all__ = ["BlobStore", "BlobWriter", "LocalBlobStore"]

_CHUNK = 1 << 20


class BlobWriter(Protocol):
    """An upload being streamed in: ``write`` chunks, then ``commit`` (durable) or ``discard``."""

    size: int

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> tuple[str, int]: ...

    def commit(self) -> tuple[str, int]: ...

    def discard(self) -> None: ...


class BlobStore(Protocol):
    """Where uploads live; the database keeps only their digests."""

    def writer(self, *, max_bytes: int) -> BlobWriter:
        """Stream a blob in without holding it in memory."""
        ...

    def put(self, chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        """Store a stream durably; return (sha256 hex, size). Refuses more than ``max_bytes``."""
        ...

    def get(self, digest: str) -> bytes:
        """The blob's bytes."""
        ...

    def exists(self, digest: str) -> bool:
        ...


class _LocalWriter:
    """A temporary file hashed as it is written; renamed to its digest on commit."""

    def __init__(self, store: LocalBlobStore, max_bytes: int) -> None:
        self._store, self._max = store, max_bytes
        self._hasher, self.size = hashlib.sha256(), 0
        fd, name = tempfile.mkstemp(dir=store.root / "tmp")
        self._tmp = Path(name)
        self._handle = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            self.discard()
            raise ValueError(f"blob exceeds {self._max} bytes")
        self._hasher.update(chunk)
        self._handle.write(chunk)

    def finish(self) -> tuple[str, int]:
        """fsync the data; the blob is not visible under its digest until :meth:`commit`."""
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        return self._hasher.hexdigest(), self.size

    def commit(self) -> tuple[str, int]:
        """fsync the file, rename it to its SHA-256 and fsync the directory."""
        try:
            digest, _ = self.finish()
            final = self._store._path(digest)
            final.parent.mkdir(exist_ok=True)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
            return digest, self.size
        finally:
            self.discard()

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        self._tmp.unlink(missing_ok=True)


class LocalBlobStore:
    """Blobs under ``root/ab/cdef...`` with durable, atomic writes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise NotFoundError("no such blob")
        return self.root / digest[:2] / digest[2:]

    def writer(self, *, max_bytes: int) -> _LocalWriter:
        return _LocalWriter(self, max_bytes)

    def put(self, chunks: Iterable[bytes], *, max_bytes: int) -> tuple[str, int]:
        writer = self.writer(max_bytes=max_bytes)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.discard()
            raise
        return writer.commit()

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
