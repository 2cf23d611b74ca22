"""Custodian use cases: enroll with a custodian invite, authenticate, list. No HTTP here.

A custodian gets the next free index (1..m) of its federation; the roster is complete
when all m have enrolled, and only then can a threshold-custody round make its key.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blindsum.aggregator.credentials import (
    CUSTODIAN_PREFIX,
    INVITE_PREFIX,
    check_digest,
    hash_secret,
    new_secret,
)
from blindsum.aggregator.federations import get_federation, spend_invite
from blindsum.aggregator.models import CustodianRow
from blindsum.crypto.enrollment import verify_enrollment
from blindsum.errors import AuthError, ConfigError, InvalidSignatureError

__all__ = ["authenticate_custodian", "enroll_custodian", "roster"]


def enroll_custodian(session: Session, federation_id: str, *, invite_code: str,
                     identity_key: bytes, exchange_key: bytes, proof: bytes,
                     label: str) -> tuple[CustodianRow, str]:
    """Spend a custodian invite; the custodian (with its index) and its bearer token."""
    code_hash = hash_secret(invite_code, INVITE_PREFIX)
    try:
        verify_enrollment(identity_key, proof, federation_id, invite_code, exchange_key)
    except InvalidSignatureError:
        raise AuthError("invalid credentials") from None
    federation = get_federation(session, federation_id)
    taken = int(session.scalar(select(func.count()).select_from(CustodianRow).where(
        CustodianRow.federation_id == federation_id)) or 0)
    if taken >= federation.custodians:
        raise ConfigError(f"the federation already has its {federation.custodians} custodians")
    now = spend_invite(session, federation_id, code_hash, role="custodian")
    token = new_secret(CUSTODIAN_PREFIX)
    row = CustodianRow(federation_id=federation_id, index=taken + 1, label=label,
                       token_hash=hash_secret(token, CUSTODIAN_PREFIX),
                       identity_key=identity_key, exchange_key=exchange_key, enrolled_at=now)
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent enrollment took the index, or the key is known
        session.rollback()
        raise ConfigError("this custodian could not be enrolled (the identity key is already "
                          "enrolled, or another custodian enrolled at the same moment: use "
                          "a new invite)") from exc
    return row, token


def authenticate_custodian(session: Session, token: str) -> CustodianRow:
    presented = hash_secret(token, CUSTODIAN_PREFIX)
    row = session.scalar(select(CustodianRow).where(CustodianRow.token_hash == presented))
    check_digest(None if row is None else row.token_hash, presented)
    assert row is not None
    return row


def roster(session: Session, federation_id: str) -> list[CustodianRow]:
    return list(session.scalars(select(CustodianRow).where(
        CustodianRow.federation_id == federation_id).order_by(CustodianRow.index)))
