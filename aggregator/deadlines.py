"""Closing stages: on request, and when their deadline passes (a sweeper in every worker).

Several workers may sweep at once; the compare-and-set in
:func:`blindsum.aggregator.rounds.lock_stage` lets exactly one of them close a
stage, the others see :class:`~blindsum.errors.RoundStateError` and move on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from blindsum.aggregator import ckks_rounds, custody_rounds, rounds, secagg_rounds
from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.models import FederationRow, RoundRow
from blindsum.errors import RoundStateError

__all__ = ["close_current_stage", "close_expired"]

logger = logging.getLogger("blindsum.aggregator")


def close_current_stage(session: Session, blobs: BlobStore, round_row: RoundRow,
                        kek: bytes) -> None:
    """End the round's current stage now: relay and advance, publish, or abort."""
    if round_row.stage in (rounds.CLOSED, rounds.ABORTED):
        raise RoundStateError(f"the round is already {round_row.stage}")
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    if rounds.kind_of(federation) == "ckks-threshold":
        custody_rounds.close_stage(session, blobs, round_row)
    elif federation.mode == "ckks":
        ckks_rounds.close_upload_stage(session, blobs, federation, round_row, kek)
    else:
        secagg_rounds.close_stage(session, blobs, round_row, round_row.stage)


def close_expired(sessions: sessionmaker[Session], blobs: BlobStore, kek: bytes,
                  now: datetime | None = None) -> list[str]:
    """Close every stage whose deadline has passed; return the ids of the rounds moved on."""
    now = now or datetime.now(UTC)
    closed: list[str] = []
    with sessions() as session:
        due = list(session.scalars(select(RoundRow).where(
            RoundRow.stage.not_in((rounds.CLOSED, rounds.ABORTED)),
            RoundRow.stage_deadline <= now)))
        for round_row in due:
            try:
                close_current_stage(session, blobs, round_row, kek)
                closed.append(round_row.id)
                logger.info("round %s: stage deadline passed, now %s", round_row.id,
                            round_row.stage)
            except RoundStateError:
                session.rollback()  # another worker got there first
    return closed
