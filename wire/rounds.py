"""Rounds, uploads and DP events on the wire (one definition for server and SDK)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from blindsum.wire.base import WireModel
from blindsum.wire.dp_event import DPEvent
from blindsum.wire.protocols import Protocol
from blindsum.wire.types import RoundSeed, Signature

__all__ = ["DPEventReport", "LedgerRecorded", "RoundPublic", "UploadAccepted"]


class RoundPublic(WireModel):
    id: str
    federation_id: str
    number: int
    stage: str = Field(description="current stage, or 'closed' / 'aborted'")
    stage_deadline: datetime
    participants: list[int]
    round_seed: RoundSeed
    protocol: Protocol | dict[str, object] = Field(union_mode="left_to_right", description=(
        "the round's public parameters; a round stored by an older version keeps the set it "
        "was announced with"))
    contributors: list[int] | None = None
    offenders: dict[str, str] | None = Field(
        default=None, description="clients the round excluded for misbehaving (id -> reason)")
    abort_reason: str | None = None
    created_at: datetime
    closed_at: datetime | None = None


class UploadAccepted(WireModel):
    round_id: str
    stage: str
    stored: bool = Field(description="false when this exact upload had already been accepted")


class DPEventReport(WireModel):
    event: DPEvent = Field(description="What the round's local DP-SGD spent, as signed")
    signature: Signature = Field(description="Ed25519 over the canonical event, base64url")


class LedgerRecorded(WireModel):
    round_number: int
    client_id: int
    epsilon_reported: float | None
    epsilon_recomputed: float
    mismatch: bool = Field(description="reported and recomputed epsilon disagree")
