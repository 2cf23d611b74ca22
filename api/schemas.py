"""Request and response bodies (pydantic v2). Binary fields travel as base64url text."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

from blindsum.crypto import base64url
from blindsum.errors import MalformedMessageError

__all__ = [
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


def _b64decode(value: object) -> bytes:
    """A validator: bytes pass (a row becoming a response), text is strictly decoded."""
    if isinstance(value, bytes):
        return value
    try:
        return base64url.decode(value)
    except MalformedMessageError as exc:
        raise ValueError(str(exc)) from None  # pydantic reports it as a validation error


B64Bytes = Annotated[
    bytes,
    PlainValidator(_b64decode),
    PlainSerializer(base64url.encode, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^[A-Za-z0-9_-]*={0,2}$", "maxLength": 4096,
                    "description": "base64url (RFC 4648 section 5), padding optional"}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpec(_Strict):
    name: str = Field(min_length=1, max_length=300)
    shape: list[Annotated[int, Field(ge=1, le=2**31)]] = Field(min_length=1, max_length=8)


class UpdateRuleSpec(_Strict):
    """How each round's average moves the global adapter (FedAvg, FedAdam or FedYogi)."""

    name: Literal["fedavg", "fedadam", "fedyogi"] = "fedavg"
    learning_rate: float = Field(default=1.0, gt=0, le=100)
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.99, ge=0, lt=1)
    tau: float = Field(default=1e-3, gt=0, le=1)


class ClientDPSpec(_Strict):
    """Client-level distributed DP (secagg): discrete Gaussian noise added by the clients."""

    noise_multiplier: float = Field(gt=0, le=100, description=(
        "noise std of any min_survivors clients' sum, in units of clip_norm"))
    sample_rate: float = Field(default=1.0, gt=0, le=1,
                               description="Poisson probability that a client joins a round")


class FederationCreate(_Strict):
    name: str = Field(min_length=1, max_length=200)
    mode: Literal["secagg", "ckks"]
    parameters: list[ParameterSpec] = Field(min_length=1, max_length=10_000)
    min_clients: int = Field(default=3, ge=3, le=100_000)
    max_clients: int = Field(default=100, ge=3, le=100_000)
    dropout_rate: float = Field(default=0.1, ge=0, lt=1)
    corruption_rate: float = Field(default=0.0, ge=0, lt=1)
    clip_norm: float = Field(default=1.0, gt=0, le=1e6)
    stage_timeout_seconds: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    epsilon_budget: float = Field(default=8.0, gt=0, le=1000)
    delta: float = Field(default=1e-5, gt=0, lt=1)
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
    identity_key: B64Bytes = Field(description="Raw Ed25519 public key (32 bytes), base64url")
    proof: B64Bytes = Field(description="Ed25519 signature over the enrollment payload")
    label: str = Field(default="", max_length=200)


class EnrollResponse(_Strict):
    client_id: int
    federation_id: str
    token: str = Field(description="Bearer token; shown only in this response")


class ClientPublic(_Strict):
    client_id: int
    federation_id: str
    label: str
    identity_key: B64Bytes
    enrolled_at: datetime


class RoundPublic(_Strict):
    id: str
    federation_id: str
    number: int
    stage: str = Field(description="current stage, or 'closed' / 'aborted'")
    stage_deadline: datetime
    participants: list[int]
    round_seed: B64Bytes
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
    event: dict[str, Any] = Field(description="The DP event (mechanism, unit, noise_multiplier, "
                                              "sample_rate, sampling, steps, max_grad_norm, "
                                              "delta, accountant, epsilon_after)")
    signature: B64Bytes = Field(description="Ed25519 over the canonical event, base64url")


class LedgerRecorded(_Strict):
    round_number: int
    client_id: int
    epsilon_reported: float | None
    epsilon_recomputed: float
    mismatch: bool = Field(description="reported and recomputed epsilon disagree")
