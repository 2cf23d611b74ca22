"""Federations, invites and enrollment on the wire: what the server and the SDK both send
and read (one definition; the OpenAPI is generated from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AliasChoices, Field

from blindsum.wire.base import WireModel
from blindsum.wire.types import ExchangeKey, Float, IdentityKey, Int, Signature

__all__ = ["ClientDPSpec", "ClientPublic", "CustodianEnrollRequest", "CustodianEnrollResponse",
           "CustodianPublic", "EnrollRequest", "EnrollResponse", "FederationCreate",
           "FederationPublic", "InviteCreate", "InvitePublic", "ParameterSpec", "UpdateRuleSpec"]

Custody = Literal["local", "threshold"]


class ParameterSpec(WireModel):
    name: str = Field(min_length=1, max_length=300)
    shape: list[Annotated[Int, Field(ge=1, le=2**31)]] = Field(min_length=1, max_length=8)


class UpdateRuleSpec(WireModel):
    """How each round's average moves the global adapter (FedAvg, FedAdam or FedYogi)."""

    name: Literal["fedavg", "fedadam", "fedyogi"] = "fedavg"
    learning_rate: Float = Field(default=1.0, gt=0, le=100)
    beta1: Float = Field(default=0.9, ge=0, lt=1)
    beta2: Float = Field(default=0.99, ge=0, lt=1)
    tau: Float = Field(default=1e-3, gt=0, le=1)


class ClientDPSpec(WireModel):
    """Client-level distributed DP (secagg): discrete Gaussian noise added by the clients."""

    noise_multiplier: Float = Field(gt=0, le=100, description=(
        "noise std of any min_survivors clients' sum, in units of clip_norm"))
    sample_rate: Float = Field(default=1.0, gt=0, le=1,
                               description="Poisson probability that a client joins a round")


class FederationCreate(WireModel):
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
    custody: Custody = Field(default="threshold", description=(
        "ckks: who holds the decryption key. threshold (the default): m custodians (the "
        "sites), any t of which decrypt each round's sum and t - 1 learn nothing; local: "
        "one key in the aggregator's trust domain (single-custodian mode, said so in the "
        "federation and its privacy report). Ignored for secagg"))
    custodians: Int = Field(default=4, ge=1, le=32, description=(
        "threshold custody: m. A round's key and decryption survive m - q custodians "
        "offline, with q = floor((m + t - 1) / 2) + 1 (4 and 2 tolerate one)"))
    custodian_threshold: Int = Field(default=2, ge=1, le=32,
                                     description="threshold custody: t, with 1 <= t <= m")


class FederationPublic(WireModel):
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
    custody: Custody = "local"
    custodians: int = 0
    custodian_threshold: int = 0
    created_at: datetime


class InviteCreate(WireModel):
    label: str = Field(default="", max_length=200)
    role: Literal["client", "custodian"] = Field(
        default="client", description="who may enroll with it: a client or a key custodian")


class InvitePublic(WireModel):
    code: str = Field(description="One-time enrollment code; shown only in this response")
    federation_id: str
    expires_at: datetime


class EnrollRequest(WireModel):
    invite_code: str = Field(min_length=10, max_length=100)
    identity_key: IdentityKey
    proof: Signature = Field(description="Ed25519 signature over the enrollment payload")
    label: str = Field(default="", max_length=200)


class EnrollResponse(WireModel):
    client_id: int
    federation_id: str
    token: str = Field(description="Bearer token; shown only in this response")


class ClientPublic(WireModel):
    client_id: int = Field(validation_alias=AliasChoices("client_id", "id"))
    federation_id: str
    label: str
    identity_key: IdentityKey
    enrolled_at: datetime


class CustodianEnrollRequest(WireModel):
    invite_code: str = Field(min_length=10, max_length=100)
    identity_key: IdentityKey
    exchange_key: ExchangeKey = Field(description="receives the other custodians' re-shares")
    proof: Signature = Field(description="Ed25519 signature over the custodian enrollment "
                                         "payload (binds the exchange key)")
    label: str = Field(default="", max_length=200)


class CustodianEnrollResponse(WireModel):
    custodian_index: int = Field(description="this custodian's index, 1..m")
    federation_id: str
    token: str = Field(description="Bearer token; shown only in this response")


class CustodianPublic(WireModel):
    custodian_index: int = Field(validation_alias=AliasChoices("custodian_index", "index"))
    federation_id: str
    label: str
    identity_key: IdentityKey
    exchange_key: ExchangeKey
    enrolled_at: datetime
