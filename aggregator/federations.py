"""Federation use cases: create, invite, enroll, authenticate. No HTTP here."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime, timedelta

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
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.enrollment import verify_enrollment
from blindsum.crypto.limits import MAX_DIMENSION, MIN_COHORT
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.errors import AuthError, ConfigError, InvalidSignatureError, NotFoundError
from blindsum.wire import FederationCreate

__all__ = [
    "authenticate_client",
    "create_federation",
    "create_invite",
    "dimension_of",
    "enroll",
    "get_federation",
    "spec_hash_of",
    "spend_invite",
    "validate",
]


_ROW_FIELDS = frozenset({"name", "mode", "min_clients", "max_clients", "dropout_rate",
                         "corruption_rate", "clip_norm", "stage_timeout_seconds",
                         "epsilon_budget", "delta"})
"""The request's fields a federation row keeps as they are."""


def dimension_of(body: FederationCreate) -> int:
    """How many values one update has: the parameters' sizes summed, in spec order."""
    return sum(math.prod(p.shape) for p in body.parameters)


def spec_hash_of(body: FederationCreate) -> str:
    """SHA-256 of the ordered parameter names and shapes: what clients must match."""
    listed = [[p.name, list(p.shape)] for p in body.parameters]
    return hashlib.sha256(json.dumps(listed, separators=(",", ":")).encode()).hexdigest()


def validate(body: FederationCreate) -> None:
    """What the request's schema cannot state (each field's range it does): collect every
    problem across fields, then fail once with all of them, then check that safe protocol
    parameters exist for the declared rates."""
    problems = []
    if len({p.name for p in body.parameters}) != len(body.parameters):
        problems.append("parameter names must be distinct")
    if dimension_of(body) > MAX_DIMENSION:
        problems.append(f"the update has {dimension_of(body):,} values; the limit is "
                        f"{MAX_DIMENSION:,} (split the federation or lower the LoRA rank)")
    if not MIN_COHORT <= body.min_clients <= body.max_clients:
        problems.append(f"need {MIN_COHORT} <= min_clients <= max_clients")
    if body.client_dp is not None and body.mode != "secagg":
        problems.append("client-level distributed DP needs mode secagg")
    if body.mode == "ckks" and body.custody == "threshold" and \
            not 1 <= body.custodian_threshold <= body.custodians:
        problems.append("threshold custody needs 1 <= custodian_threshold <= custodians")
    if problems:
        raise ConfigError("invalid federation: " + "; ".join(problems))
    if body.mode == "secagg":
        SecAggParams.derive(body.max_clients, dropout_rate=body.dropout_rate,
                            corruption_rate=body.corruption_rate)
    elif body.custody == "threshold":
        ThresholdParams.derive(max_clients=body.max_clients, max_abs=body.clip_norm,
                               custodians=body.custodians, threshold=body.custodian_threshold)
    else:
        CkksParams.for_clients(body.max_clients, max_abs=body.clip_norm)


def create_federation(session: Session, body: FederationCreate) -> FederationRow:
    """Store a validated federation and its global adapter's update rule."""
    validate(body)
    threshold = body.mode == "ckks" and body.custody == "threshold"
    row = FederationRow(
        id=str(uuid.uuid4()), dimension=dimension_of(body), spec_hash=spec_hash_of(body),
        update_spec={"parameters": [p.model_dump() for p in body.parameters]},
        client_dp=None if body.client_dp is None else body.client_dp.model_dump(),
        custody="threshold" if threshold else "local",
        custodians=body.custodians if threshold else 0,
        custodian_threshold=body.custodian_threshold if threshold else 0,
        created_at=datetime.now(UTC), **body.model_dump(include=set(_ROW_FIELDS)))
    session.add(row)
    global_model.create(session, row, UpdateRule(**body.update_rule.model_dump()))
    session.commit()
    return row


def get_federation(session: Session, federation_id: str) -> FederationRow:
    row = session.get(FederationRow, federation_id)
    if row is None:
        raise NotFoundError("no such federation")
    return row


def create_invite(session: Session, federation_id: str, *, label: str,
                  ttl: timedelta, role: str = "client") -> tuple[str, InviteRow]:
    """A one-time invite code (shown once) for ``federation_id``, for a client or a
    custodian (``role``)."""
    federation = get_federation(session, federation_id)
    if role == "custodian" and federation.custody != "threshold":
        raise ConfigError("only a ckks federation with threshold custody has custodians")
    code = new_secret(INVITE_PREFIX)
    row = InviteRow(code_hash=hash_secret(code, INVITE_PREFIX), federation_id=federation.id,
                    label=label, expires_at=datetime.now(UTC) + ttl, role=role)
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
    now = spend_invite(session, federation_id, code_hash, role="client")
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


def spend_invite(session: Session, federation_id: str, code_hash: bytes, *,
                 role: str) -> datetime:
    """Mark an unused, unexpired invite of ``role`` used (one atomic UPDATE: unknown,
    expired, used and other-role invites fail identically); the time it was spent."""
    now = datetime.now(UTC)
    spent = session.execute(
        update(InviteRow)
        .where(InviteRow.code_hash == code_hash, InviteRow.federation_id == federation_id,
               InviteRow.used_at.is_(None), InviteRow.expires_at > now, InviteRow.role == role)
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise AuthError("invalid credentials")
    return now


def authenticate_client(session: Session, token: str) -> ClientRow:
    """The client a bearer token belongs to; any failure is the same AuthError."""
    presented = hash_secret(token, CLIENT_PREFIX)
    client = session.scalar(select(ClientRow).where(ClientRow.token_hash == presented))
    check_digest(None if client is None else client.token_hash, presented)
    assert client is not None
    return client
