"""Federation use cases: create, invite, enroll, authenticate. No HTTP here."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blindsum.aggregator import global_model
from blindsum.aggregator.credentials import (
    CLIENT_PREFIX,
    INVITE_PREFIX,
    check_digest,
    hash_secret,
    new_secret,
)
from blindsum.aggregator.models import ClientRow, FederationRow, InviteRow
from blindsum.aggregator.update_rules import UpdateRule
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.enrollment import verify_enrollment
from blindsum.crypto.limits import MAX_DIMENSION, MIN_COHORT
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.errors import AuthError, ConfigError, InvalidSignatureError, NotFoundError
from blindsum.wire import FederationCreate

__all__ = [
    "ClientLevelDP",
    "FederationSpec",
    "ParameterShape",
    "authenticate_client",
    "create_federation",
    "create_invite",
    "enroll",
    "get_federation",
]


@dataclass(frozen=True)
class ParameterShape:
    """One named tensor of the update (e.g. a LoRA B matrix)."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ClientLevelDP:
    """Distributed discrete Gaussian noise added by the clients (secagg only): the sum of any
    ``min_survivors`` clients carries noise of std ``noise_multiplier * clip_norm``; each round
    samples every enrolled client with probability ``sample_rate`` (Poisson)."""

    noise_multiplier: float
    sample_rate: float = 1.0

    def to_json(self) -> dict[str, float]:
        return {"noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate}


@dataclass(frozen=True)
class FederationSpec:
    """Everything fixed when a federation is created."""

    name: str
    mode: Literal["secagg", "ckks"]
    parameters: tuple[ParameterShape, ...]
    min_clients: int = 3
    max_clients: int = 100
    dropout_rate: float = 0.1
    corruption_rate: float = 0.0
    clip_norm: float = 1.0
    stage_timeout_seconds: float = 300.0
    epsilon_budget: float = 8.0
    delta: float = 1e-5
    update_rule: UpdateRule = field(default_factory=UpdateRule)
    client_dp: ClientLevelDP | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_wire(cls, body: FederationCreate) -> FederationSpec:
        """The spec a validated request asks for."""
        fields = body.model_dump(exclude={"parameters", "update_rule", "client_dp"})
        return cls(**fields,
                   parameters=tuple(ParameterShape(p.name, tuple(p.shape))
                                    for p in body.parameters),
                   update_rule=UpdateRule(**body.update_rule.model_dump()),
                   client_dp=None if body.client_dp is None
                   else ClientLevelDP(**body.client_dp.model_dump()))

    @property
    def dimension(self) -> int:
        return sum(p.size for p in self.parameters)

    @property
    def spec_hash(self) -> str:
        """SHA-256 of the ordered parameter names and shapes: what clients must match."""
        listed = [[p.name, list(p.shape)] for p in self.parameters]
        return hashlib.sha256(json.dumps(listed, separators=(",", ":")).encode()).hexdigest()

    def validate(self) -> None:
        """Collect every problem, then fail once with all of them."""
        problems = []
        if not self.parameters or any(p.size < 1 for p in self.parameters):
            problems.append("the update needs at least one parameter with a positive size")
        if len({p.name for p in self.parameters}) != len(self.parameters):
            problems.append("parameter names must be distinct")
        if self.dimension > MAX_DIMENSION:
            problems.append(f"the update has {self.dimension:,} values; the limit is "
                            f"{MAX_DIMENSION:,} (split the federation or lower the LoRA rank)")
        if not MIN_COHORT <= self.min_clients <= self.max_clients:
            problems.append(f"need {MIN_COHORT} <= min_clients <= max_clients")
        if not (self.epsilon_budget > 0 and 0 < self.delta < 1):
            problems.append("the privacy budget needs epsilon > 0 and 0 < delta < 1")
        if self.stage_timeout_seconds <= 0 or self.clip_norm <= 0:
            problems.append("stage_timeout_seconds and clip_norm must be positive")
        if self.client_dp is not None:
            if self.mode != "secagg":
                problems.append("client-level distributed DP needs mode secagg")
            if not (self.client_dp.noise_multiplier > 0 and 0 < self.client_dp.sample_rate <= 1):
                problems.append("client_dp needs noise_multiplier > 0 and 0 < sample_rate <= 1")
        if problems:
            raise ConfigError("invalid federation: " + "; ".join(problems))
        if self.mode == "secagg":
            SecAggParams.derive(self.max_clients, dropout_rate=self.dropout_rate,
                                corruption_rate=self.corruption_rate)
        else:
            CkksParams.for_clients(self.max_clients, max_abs=self.clip_norm)


def create_federation(session: Session, spec: FederationSpec) -> FederationRow:
    spec.validate()
    row = FederationRow(
        id=str(uuid.uuid4()), name=spec.name, mode=spec.mode, dimension=spec.dimension,
        update_spec={"parameters": [{"name": p.name, "shape": list(p.shape)}
                                    for p in spec.parameters]},
        spec_hash=spec.spec_hash, min_clients=spec.min_clients, max_clients=spec.max_clients,
        dropout_rate=spec.dropout_rate, corruption_rate=spec.corruption_rate,
        clip_norm=spec.clip_norm, stage_timeout_seconds=spec.stage_timeout_seconds,
        epsilon_budget=spec.epsilon_budget, delta=spec.delta, created_at=spec.created_at,
        client_dp=None if spec.client_dp is None else spec.client_dp.to_json(),
    )
    session.add(row)
    global_model.create(session, row, spec.update_rule)
    session.commit()
    return row


def get_federation(session: Session, federation_id: str) -> FederationRow:
    row = session.get(FederationRow, federation_id)
    if row is None:
        raise NotFoundError("no such federation")
    return row


def create_invite(session: Session, federation_id: str, *, label: str,
                  ttl: timedelta) -> tuple[str, InviteRow]:
    """A one-time invite code (shown once) for ``federation_id``."""
    federation = get_federation(session, federation_id)
    code = new_secret(INVITE_PREFIX)
    row = InviteRow(code_hash=hash_secret(code, INVITE_PREFIX), federation_id=federation.id,
                    label=label, expires_at=datetime.now(UTC) + ttl)
    session.add(row)
    session.commit()
    return code, row


def enroll(session: Session, federation_id: str, *, invite_code: str, identity_key: bytes,
           proof: bytes, label: str) -> tuple[ClientRow, str]:
    """Spend an invite: register the client's identity key, return it and its bearer token.

    Unknown, expired and already used invites fail identically (one atomic UPDATE).
    """
    code_hash = hash_secret(invite_code, INVITE_PREFIX)
    try:  # the proof is a credential: a wrong one fails like a wrong invite
        verify_enrollment(identity_key, proof, federation_id, invite_code)
    except InvalidSignatureError:
        raise AuthError("invalid credentials") from None
    federation = get_federation(session, federation_id)
    enrolled = session.scalar(
        select(func.count()).select_from(ClientRow).where(ClientRow.federation_id == federation_id)
    )
    if (enrolled or 0) >= federation.max_clients:
        raise ConfigError(f"the federation is full ({federation.max_clients} clients)")
    now = datetime.now(UTC)
    spent = session.execute(
        update(InviteRow)
        .where(InviteRow.code_hash == code_hash, InviteRow.federation_id == federation_id,
               InviteRow.used_at.is_(None), InviteRow.expires_at > now)
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise AuthError("invalid credentials")
    token = new_secret(CLIENT_PREFIX)
    client = ClientRow(federation_id=federation_id, label=label,
                       token_hash=hash_secret(token, CLIENT_PREFIX), identity_key=identity_key,
                       enrolled_at=now)
    session.add(client)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise ConfigError("this identity key is already enrolled in the federation") from exc
    return client, token


def authenticate_client(session: Session, token: str) -> ClientRow:
    """The client a bearer token belongs to; any failure is the same AuthError."""
    presented = hash_secret(token, CLIENT_PREFIX)
    client = session.scalar(select(ClientRow).where(ClientRow.token_hash == presented))
    check_digest(None if client is None else client.token_hash, presented)
    assert client is not None
    return client
