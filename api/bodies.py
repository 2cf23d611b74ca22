"""Reading request bodies with their size checked before the first byte is read.

Uploads are sized by the round's spec, so a wrong ``Content-Length`` is refused
at once (413 when larger, 422 when merely wrong) and a body that runs past its
declared length is cut off; the server never buffers more than it will accept.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from blindsum.aggregator.blobs import BlobStore, BlobWriter
from blindsum.errors import MalformedMessageError, PayloadTooLargeError, WrongSizeError

__all__ = [
    "MAX_JSON_BYTES",
    "OCTETS",
    "json_body_doc",
    "octet_body_doc",
    "read_exact",
    "read_json",
    "stream_to_blob",
]

OCTETS = "application/octet-stream"
MAX_JSON_BYTES = 4 << 20
"""Protocol JSON messages are small (a share-keys message for 200 neighbours is ~60 KB)."""


def octet_body_doc() -> dict[str, Any]:
    """OpenAPI for a required raw binary body (the handler reads the stream itself)."""
    return {"requestBody": {"required": True,
                            "content": {OCTETS: {"schema": {"type": "string",
                                                            "format": "binary"}}}}}


def json_body_doc() -> dict[str, Any]:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": {}}}}}


async def _read(request: Request, declared: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > declared:
            raise MalformedMessageError("the body is longer than its Content-Length")
    if len(body) != declared:
        raise MalformedMessageError("the body is shorter than its Content-Length")
    return bytes(body)


def _check_size(declared: int, expected: int, what: str) -> None:
    if declared > expected:
        raise PayloadTooLargeError(f"{what} is exactly {expected} bytes, "
                                   f"Content-Length says {declared}")
    if declared != expected:
        raise WrongSizeError(f"{what} is exactly {expected} bytes, "
                             f"Content-Length says {declared}")


async def read_exact(request: Request, declared: int, expected: int, what: str) -> bytes:
    """The body, which must be exactly ``expected`` bytes (checked on the header first)."""
    _check_size(declared, expected, what)
    return await _read(request, declared)


async def stream_to_blob(request: Request, declared: int, expected: int, what: str,
                         blobs: BlobStore) -> BlobWriter:
    """Stream an exactly-``expected``-byte body into a fsynced temporary blob.

    Memory stays at one network chunk whatever the upload's size. The caller
    publishes it (``commit``) only once the upload is accepted, and must
    ``discard`` it otherwise, so a refused upload leaves nothing behind.
    """
    _check_size(declared, expected, what)
    writer = blobs.writer(max_bytes=expected)
    try:
        async for chunk in request.stream():
            if writer.size + len(chunk) > declared:
                raise MalformedMessageError("the body is longer than its Content-Length")
            writer.write(chunk)
        if writer.size != declared:
            raise MalformedMessageError("the body is shorter than its Content-Length")
        await run_in_threadpool(writer.finish)
    except BaseException:
        writer.discard()
        raise
    return writer


async def read_json(request: Request, declared: int) -> Any:
    """A JSON body of at most :data:`MAX_JSON_BYTES`."""
    if declared > MAX_JSON_BYTES:
        raise PayloadTooLargeError(f"protocol messages are at most {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(await _read(request, declared))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessageError("the body is not valid JSON") from exc
