"""Request and response bodies (pydantic v2). Binary fields travel as base64url text."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from blindsum.crypto import base64url
from blindsum.crypto.dp_events import DPEvent
from blindsum.errors import MalformedMessageError

__all__ = [
    "SIGNATURE_PATTERN",
    "ClientPublic",
    "EnrollRequest",
    "EnrollResponse",
    "FederationCreate",
    "FederationPublic",
    "InviteCreate",
    "InvitePublic",
    "ParameterSpec",
    "RoundPublic",
    "UploadAccepted",
]


def _exact_pattern(size: int) -> str:
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
    return WithJsonSchema({"type": "string", "pattern": _exact_pattern(size),
                           "description": description})


SIGNATURE_PATTERN = _exact_pattern(64)
"""A 64-byte Ed25519 signature as base64url text (headers carry one too)."""
_AS_TEXT = PlainSerializer(base64url.encode, return_type=str)
IdentityKey = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                        _b64_schema(32, "raw Ed25519 public key (32 bytes), base64url")]
Signature = Annotated[bytes, PlainValidator(_decoder(64)), _AS_TEXT,
                      _b64_schema(64, "Ed25519 signature (64 bytes), base64url")]
RoundSeed = Annotated[bytes, PlainValidator(_decoder(32)), _AS_TEXT,
                      _b64_schema(32, "the round's public seed (32 bytes), base64url")]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read true as 1 (JSON Schema says no)
        raise ValueError("expected a number, not a boolean")
    return value


Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpec(_Strict):
    name: str = Field(min_length=1, max_length=300)
    shape: list[Annotated[Int, Field(ge=1, le=2**31)]] = Field(min_length=1, max_length=8)


class UpdateRuleSpec(_Strict):
    """How each round's average moves the global adapter (FedAvg, FedAdam or FedYogi)."""

    name: Literal["fedavg", "fedadam", "fedyogi"] = "fedavg"
    learning_rate: Float = Field(default=1.0, gt=0, le=100)
    beta1: Float = Field(default=0.9, ge=0, lt=1)
    beta2: Float = Field(default=0.99, ge=0, lt=1)
    tau: Float = Field(default=1e-3, gt=0, le=1)


class ClientDPSpec(_Strict):
    """Client-level distributed DP (secagg): discrete Gaussian noise added by the clients."""

    noise_multiplier: Float = Field(gt=0, le=100, description=(
        "noise std of any min_survivors clients' sum, in units of clip_norm"))
    sample_rate: Float = Field(default=1.0, gt=0, le=1,
                               description="Poisson probability that a client joins a round")


class FederationCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    mode: Literal["secagg", "ckks"]
    parameters: list[ParameterSpec] = Field(min_length=1, max_length=10_000)
    min_clients: Int = Field(default=3, ge=3, le=100_000)
    max_clients: Int = Field(default=100, ge=3, le=100_000)
    dropout_rate: Float = Field(default=0.1, ge=0, lt=1)
    corruption_rate: Float = Field(default=0.0, ge=0, lt=1)
    clip_norm: Float = Field(default=1.0, gt=0, le=1e6)
    stage_timeout_seconds: Float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    epsilon_budget: Float = Field(default=8.0, gt=0, le=1000)
    delta: Float = Field(default=1e-5, gt=0, lt=1)
    update_rule: UpdateRuleSpec = Field(default_factory=UpdateRuleSpec)
    client_dp: ClientDPSpec | None = None


class FederationPublic(_Strict):
    id: str
    name: str
    mode: Literal["secagg", "ckks"]
    dimension: int
    spec_hash: str
    parameters: list[ParameterSpec]
    min_clients: int
    max_clients: int
    dropout_rate: float
    corruption_rate: float
    clip_norm: float
    stage_timeout_seconds: float
    epsilon_budget: float
    delta: float
    update_rule: UpdateRuleSpec
    client_dp: ClientDPSpec | None
    created_at: datetime


class InviteCreate(_Strict):
    label: str = Field(default="", max_length=200)


class InvitePublic(_Strict):
    code: str = Field(description="One-time enrollment code; shown only in this response")
    federation_id: str
    expires_at: datetime


class EnrollRequest(_Strict):
    invite_code: str = Field(min_length=10, max_length=100)
    identity_key: IdentityKey
    proof: Signature = Field(description="Ed25519 signature over the enrollment payload")
    label: str = Field(default="", max_length=200)


class EnrollResponse(_Strict):
    client_id: int
    federation_id: str
    token: str = Field(description="Bearer token; shown only in this response")


class ClientPublic(_Strict):
    client_id: int
    federation_id: str
    label: str
    identity_key: IdentityKey
    enrolled_at: datetime


class RoundPublic(_Strict):
    id: str
    federation_id: str
    number: int
    stage: str = Field(description="current stage, or 'closed' / 'aborted'")
    stage_deadline: datetime
    participants: list[int]
    round_seed: RoundSeed
    protocol: dict[str, object]
    contributors: list[int] | None = None
    offenders: dict[str, str] | None = Field(
        default=None, description="clients the round excluded for misbehaving (id -> reason)")
    abort_reason: str | None = None
    created_at: datetime
    closed_at: datetime | None = None


class UploadAccepted(_Strict):
    round_id: str
    stage: str
    stored: bool = Field(description="false when this exact upload had already been accepted")


class DPEventReport(_Strict):
    event: DPEvent = Field(description="What the round's local DP-SGD spent, as signed")
    signature: Signature = Field(description="Ed25519 over the canonical event, base64url")


class LedgerRecorded(_Strict):
    round_number: int
    client_id: int
    epsilon_reported: float | None
    epsilon_recomputed: float
    mismatch: bool = Field(description="reported and recomputed epsilon disagree")
