"""JSON field types every wire model shares: numbers read as JSON Schema reads them, and
bytes as base64url text whose schema states their exact size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, PlainValidator, WithJsonSchema

from blindsum.crypto import base64url
from blindsum.errors import MalformedMessageError

__all__ = ["SIGNATURE_PATTERN", "Digest", "ExchangeKey", "Float", "IdentityKey", "Int",
           "RoundSeed", "Signature", "exact_base64url_pattern"]


def exact_base64url_pattern(size: int) -> str:
    """A regular expression for the canonical base64url text of exactly ``size`` bytes."""
    full, rest = divmod(size, 3)
    last = {0: "", 1: "[A-Za-z0-9_-][AQgw](==)?", 2: "[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]=?"}
    return f"^[A-Za-z0-9_-]{{{4 * full}}}{last[rest]}$"


def _decoder(size: int) -> Callable[[object], bytes]:
    """A validator: bytes pass (a row becoming a response); text is strictly decoded
    (:mod:`blindsum.crypto.base64url`) to exactly ``size`` bytes."""
    def decode(value: object) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            return base64url.decode(value, size=size)
        except MalformedMessageError as exc:
            raise ValueError(str(exc)) from None  # pydantic reports it as a validation error
    return decode


def _b64_schema(size: int, description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": exact_base64url_pattern(size),
                           "description": description})


SIGNATURE_PATTERN = exact_base64url_pattern(64)
"""A 64-byte Ed25519 signature as base64url text (headers carry one too)."""
_AS_TEXT = PlainSerializer(base64url.encode, return_type=str)
IdentityKey = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                        _b64_schema(32, "raw Ed25519 public key (32 bytes), base64url")]
Signature = Annotated[bytes, PlainValidator(_decoder(64)), _AS_TEXT,
                      _b64_schema(64, "Ed25519 signature (64 bytes), base64url")]
RoundSeed = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                      _b64_schema(32, "the round's public seed (32 bytes), base64url")]
ExchangeKey = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                        _b64_schema(32, "raw X25519 public key (32 bytes), base64url")]
Digest = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                   _b64_schema(32, "a SHA-256 digest (32 bytes), base64url")]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read true as 1 (JSON Schema says no)
        raise ValueError("expected a number, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]
