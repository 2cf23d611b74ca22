"""Rounds: opening, stage transitions by compare-and-set, and exactly-once messages.

Every write that depends on the round's stage first runs ``UPDATE rounds ...
WHERE id = ? AND stage = ?``. That takes the row's write lock on PostgreSQL and
the database write lock on SQLite, so a message insert and a stage close can
never interleave across workers or hosts: an acknowledged message is always
seen by the close that follows it. A client's message is unique per (round,
stage, sender); a retry with the same bytes returns the original, a different
one is refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from blindsum.aggregator.models import ClientRow, FederationRow, MessageRow, RoundRow
from blindsum.crypto.ckks import stages as ckks_stages
from blindsum.crypto.secagg import stages as secagg_stages
from blindsum.errors import NotFoundError, ProtocolError, RoundStateError, ThresholdNotMetError
from blindsum.wire import CkksProtocol, SecAggProtocol

__all__ = [
    "ABORTED",
    "CLOSED",
    "STAGES",
    "abort_round",
    "already_recorded",
    "advance",
    "current_round",
    "get_round",
    "kind_of",
    "lock_stage",
    "open_round",
    "record_message",
    "stage_message_count",
    "stage_messages",
]

logger = logging.getLogger("blindsum.aggregator")

CLOSED: Final = secagg_stages.Stage.CLOSED.value
ABORTED: Final = secagg_stages.Stage.ABORTED.value
STAGES: Final = {
    "secagg": tuple(s.value for s in secagg_stages.MESSAGE_STAGES),
    "ckks": tuple(s.value for s in ckks_stages.MESSAGE_STAGES),
    "ckks-threshold": tuple(s.value for s in ckks_stages.THRESHOLD_STAGES),
}
"""Each kind of round's stages in order, as stored in ``rounds.stage``; then CLOSED or
ABORTED. The kind is the mode, and for ckks the custody (:func:`kind_of`)."""


def kind_of(federation: FederationRow) -> str:
    """Which of :data:`STAGES` a federation's rounds go through."""
    if federation.mode == "ckks" and federation.custody == "threshold":
        return "ckks-threshold"
    return federation.mode


def _now() -> datetime:
    return datetime.now(UTC)


def get_round(session: Session, federation_id: str, round_id: str) -> RoundRow:
    row = session.get(RoundRow, round_id)
    if row is None or row.federation_id != federation_id:
        raise NotFoundError("no such round")
    return row


def current_round(session: Session, federation_id: str) -> RoundRow:
    """The federation's newest round (open or finished)."""
    row = session.scalar(select(RoundRow).where(RoundRow.federation_id == federation_id)
                         .order_by(RoundRow.number.desc()).limit(1))
    if row is None:
        raise NotFoundError("the federation has no round yet")
    return row


def open_round(session: Session, federation: FederationRow,
               protocol: Callable[[int], SecAggProtocol | CkksProtocol]) -> RoundRow:
    """Open the next round with every enrolled client (up to max_clients) as a participant;
    ``protocol(n)`` gives the round's public protocol parameters for n participants (stored
    as their JSON, which clients read back into the same model)."""
    latest = session.scalar(select(RoundRow).where(RoundRow.federation_id == federation.id)
                            .order_by(RoundRow.number.desc()).limit(1))
    if latest is not None and latest.stage not in (CLOSED, ABORTED):
        raise RoundStateError(f"round {latest.number} is still in stage {latest.stage!r}; "
                              "close or abort it first")
    participants = list(session.scalars(select(ClientRow.id).where(
        ClientRow.federation_id == federation.id).order_by(ClientRow.id)))
    if len(participants) < federation.min_clients:
        raise ThresholdNotMetError(f"only {len(participants)} clients are enrolled; the "
                                   f"federation needs {federation.min_clients} to open a round")
    participants = participants[: federation.max_clients]
    rate = float((federation.client_dp or {}).get("sample_rate", 1.0))
    if rate < 1.0:  # Poisson client sampling thins the cohort; accounting takes no credit for it
        participants = [p for p in participants if secrets.randbelow(2**53) < rate * 2**53]
        if len(participants) < federation.min_clients:
            raise ThresholdNotMetError(
                f"Poisson sampling at rate {rate} drew {len(participants)} clients, fewer than "
                f"min_clients={federation.min_clients}; open the round again (or raise the rate)")
    number = (session.scalar(select(func.max(RoundRow.number))
                             .where(RoundRow.federation_id == federation.id)) or 0) + 1
    now = _now()
    row = RoundRow(
        id=str(uuid.uuid4()), federation_id=federation.id, number=number,
        stage=STAGES[kind_of(federation)][0], version=0,
        stage_deadline=now + timedelta(seconds=federation.stage_timeout_seconds),
        participants=participants, round_seed=os.urandom(32),
        protocol=protocol(len(participants)).model_dump(mode="json", exclude_none=True),
        created_at=now,
    )
    session.add(row)
    session.commit()
    return row


def lock_stage(session: Session, round_row: RoundRow, stage: str) -> None:
    """Lock the round for this transaction if it is in ``stage``; refuse otherwise."""
    result = session.execute(update(RoundRow).where(RoundRow.id == round_row.id,
                                                    RoundRow.stage == stage)
                             .values(version=RoundRow.version + 1))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        session.refresh(round_row)
        raise RoundStateError(f"the round is in stage {round_row.stage!r}, not {stage!r}")


def advance(round_row: RoundRow, to_stage: str, timeout: float) -> None:
    """Move a locked round to ``to_stage`` with a fresh deadline (caller commits)."""
    logger.info("round %s (federation %s): %s -> %s", round_row.id, round_row.federation_id,
                round_row.stage, to_stage)
    round_row.stage = to_stage
    round_row.stage_deadline = _now() + timedelta(seconds=timeout)
    if to_stage in (CLOSED, ABORTED):
        round_row.closed_at = _now()


def abort_round(round_row: RoundRow, reason: str) -> None:
    """Abort a locked round with a stated reason; nothing partial is published."""
    round_row.abort_reason = reason[:500]
    advance(round_row, ABORTED, 0)


def record_message(session: Session, round_row: RoundRow, stage: str, sender: int, body: bytes,
                   *, blob: str | None = None,
                   senders: Collection[int] | None = None) -> tuple[MessageRow, bool]:
    """Store one message of a stage exactly once; returns (row, newly stored). The sender
    is a participant, or one of ``senders`` (custodians, by index, in their own stages).

    The caller has locked the stage in this transaction and commits.
    """
    if sender not in (round_row.participants if senders is None else senders):
        raise ProtocolError("this client is not a participant of the round")
    digest = hashlib.sha256(body + (blob or "").encode()).digest()
    existing = session.scalar(select(MessageRow).where(
        MessageRow.round_id == round_row.id, MessageRow.stage == stage,
        MessageRow.sender == sender))
    if existing is not None:
        if existing.digest == digest:
            return existing, False
        raise ProtocolError("a different message from this client was already accepted "
                            "in this stage")
    row = MessageRow(round_id=round_row.id, stage=stage, sender=sender, body=body,
                     digest=digest, blob=blob, created_at=_now())
    session.add(row)
    return row, True


def already_recorded(session: Session, round_id: str, stage: str, sender: int, body: bytes,
                     *, blob: str | None = None) -> bool:
    """Is exactly this message already stored? (A retry after a lost response is acknowledged
    whatever stage the round has moved on to.)"""
    digest = hashlib.sha256(body + (blob or "").encode()).digest()
    existing = session.scalar(select(MessageRow.digest).where(
        MessageRow.round_id == round_id, MessageRow.stage == stage, MessageRow.sender == sender))
    return existing == digest


def stage_message_count(session: Session, round_id: str, stage: str) -> int:
    return int(session.scalar(select(func.count()).select_from(MessageRow).where(
        MessageRow.round_id == round_id, MessageRow.stage == stage)) or 0)


def stage_messages(session: Session, round_id: str, stage: str) -> list[MessageRow]:
    """A stage's accepted messages, in arrival order."""
    return list(session.scalars(select(MessageRow).where(
        MessageRow.round_id == round_id, MessageRow.stage == stage).order_by(MessageRow.id)))
