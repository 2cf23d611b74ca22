"""The database schema (SQLAlchemy 2). Alembic migrations in ``migrations/`` create it.

Secrets are never stored: tokens and invite codes only as SHA-256 hashes.
Vectors and ciphertexts never enter the database; rows point at blobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "ClientRow", "CustodianRow", "CustodyKeyRow", "FederationRow",
           "GlobalModelRow", "InviteRow", "LedgerRow", "MessageRow", "RelayRow", "RoundRow"]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use datetime.now(UTC)")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class FederationRow(Base):
    __tablename__ = "federations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    dimension: Mapped[int] = mapped_column(Integer)
    update_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    min_clients: Mapped[int] = mapped_column(Integer)
    max_clients: Mapped[int] = mapped_column(Integer)
    dropout_rate: Mapped[float] = mapped_column(Float)
    corruption_rate: Mapped[float] = mapped_column(Float)
    clip_norm: Mapped[float] = mapped_column(Float)
    stage_timeout_seconds: Mapped[float] = mapped_column(Float)
    epsilon_budget: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    client_dp: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    custody: Mapped[str] = mapped_column(String(16), default="local")  # ckks: local | threshold
    custodians: Mapped[int] = mapped_column(Integer, default=0)  # m (threshold custody)
    custodian_threshold: Mapped[int] = mapped_column(Integer, default=0)  # t
    global_model: Mapped[GlobalModelRow | None] = relationship(viewonly=True)

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """The update's named shapes, in the order clients flatten it."""
        return list(self.update_spec["parameters"])

    @property
    def update_rule(self) -> dict[str, Any]:
        """How each round's average moves the global adapter (kept with the adapter)."""
        if self.global_model is None:  # a federation stored before adapters were kept
            return {"name": "fedavg"}
        return dict(self.global_model.rule)


class InviteRow(Base):
    __tablename__ = "invites"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="client")  # client | custodian


class ClientRow(Base):
    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("federation_id", "identity_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, index=True)
    identity_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustodianRow(Base):
    """A key custodian of a threshold-CKKS federation: index 1..m and its public keys."""

    __tablename__ = "custodians"
    __table_args__ = (UniqueConstraint("federation_id", "custodian_index"),
                      UniqueConstraint("federation_id", "identity_key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), index=True)
    index: Mapped[int] = mapped_column("custodian_index", Integer)
    label: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, index=True)
    identity_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    exchange_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustodyKeyRow(Base):
    """A ckks federation's secret key, sealed under the service's key-encryption key."""

    __tablename__ = "custody_keys"

    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_context_blob: Mapped[str] = mapped_column(String(64))


class RoundRow(Base):
    """One round; ``stage`` moves forward by compare-and-set on ``version``."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("federation_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=0)
    stage_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    participants: Mapped[list[int]] = mapped_column(JSON)
    round_seed: Mapped[bytes] = mapped_column(LargeBinary(32))
    protocol: Mapped[dict[str, Any]] = mapped_column(JSON)
    abort_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    contributors: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    offenders: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    custody: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # threshold
    result_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MessageRow(Base):
    """One accepted client message: exactly one per (round, stage, sender)."""

    __tablename__ = "round_messages"
    __table_args__ = (UniqueConstraint("round_id", "stage", "sender"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    sender: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RelayRow(Base):
    """What the server relays after a stage closed: to one recipient, or to all (0)."""

    __tablename__ = "round_relays"

    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class GlobalModelRow(Base):
    """The federation's global adapter (a float64 blob; none = all zeros) and rule state."""

    __tablename__ = "global_models"

    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), primary_key=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    rounds_applied: Mapped[int] = mapped_column(Integer)
    last_round_number: Mapped[int] = mapped_column(Integer)
    params_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    m_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    v_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LedgerRow(Base):
    """One client's privacy spend in one round under one mechanism. Never updated."""

    __tablename__ = "privacy_ledger"
    __table_args__ = (UniqueConstraint("round_id", "client_id", "mechanism"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    federation_id: Mapped[str] = mapped_column(ForeignKey("federations.id"), index=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("rounds.id"))
    round_number: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[int] = mapped_column(Integer)
    mechanism: Mapped[str] = mapped_column(String(32))  # dp-sgd | distributed-dp
    unit: Mapped[str] = mapped_column(String(16))  # example | client
    noise_multiplier: Mapped[float] = mapped_column(Float)
    sampling: Mapped[str] = mapped_column(String(16))
    sample_rate: Mapped[float] = mapped_column(Float)
    steps: Mapped[int] = mapped_column(Integer)
    clip_norm: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    accountant: Mapped[str] = mapped_column(String(8))
    epsilon_reported: Mapped[float | None] = mapped_column(Float, nullable=True)
    epsilon_recomputed: Mapped[float] = mapped_column(Float)
    mismatch: Mapped[bool] = mapped_column(Boolean)
    event: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
