"""The federation's global adapter: set once by the admin (optional), moved by every round.

When a round's result is published, the same transaction applies the
federation's update rule to the average and stores the new global adapter
(and the rule's moments) as fsynced blobs: a crash either publishes both or
neither, so no round is applied twice or lost.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.models import FederationRow, GlobalModelRow, RoundRow
from blindsum.aggregator.update_rules import UpdateRule, apply_rule
from blindsum.errors import NotFoundError, RoundStateError, WrongSizeError

__all__ = ["apply_round", "create", "read", "rule_of", "set_initial"]


def create(session: Session, federation: FederationRow, rule: UpdateRule) -> None:
    session.add(GlobalModelRow(federation_id=federation.id, rule=rule.to_json(),
                               rounds_applied=0, last_round_number=0))


def _row(session: Session, federation_id: str) -> GlobalModelRow:
    row = session.get(GlobalModelRow, federation_id)
    if row is None:
        raise NotFoundError("no such federation")
    return row


def rule_of(session: Session, federation_id: str) -> UpdateRule:
    return UpdateRule(**_row(session, federation_id).rule)


def _vector(blobs: BlobStore, digest: str | None) -> np.ndarray | None:
    if digest is None:
        return None
    return np.frombuffer(blobs.get(digest), dtype="<f8").astype(np.float64)


def _put(blobs: BlobStore, vector: np.ndarray | None) -> str | None:
    if vector is None:
        return None
    data = np.ascontiguousarray(vector, dtype="<f8").tobytes()
    return blobs.put([data], max_bytes=len(data))[0]


def read(session: Session, blobs: BlobStore, federation: FederationRow) -> tuple[bytes, int]:
    """The global adapter as float64 little-endian bytes, and how many rounds moved it."""
    row = _row(session, federation.id)
    if row.params_blob is None:
        return bytes(8 * federation.dimension), row.rounds_applied
    return blobs.get(row.params_blob), row.rounds_applied


def set_initial(session: Session, blobs: BlobStore, federation: FederationRow,
                data: bytes) -> None:
    """The starting adapter (plain LoRA needs a shared A); only before any round moved it."""
    if len(data) != 8 * federation.dimension:
        raise WrongSizeError(f"the global adapter is exactly {8 * federation.dimension} bytes "
                             f"(float64 x {federation.dimension}), got {len(data)}")
    vector = np.frombuffer(data, dtype="<f8")
    if not np.all(np.isfinite(vector)):
        raise WrongSizeError("the global adapter contains NaN or infinity")
    row = _row(session, federation.id)
    if row.rounds_applied:
        raise RoundStateError("rounds have already moved the global adapter; it can only be "
                              "set before the first round closes")
    row.params_blob = _put(blobs, vector)
    session.commit()


def apply_round(session: Session, blobs: BlobStore, federation: FederationRow,
                round_row: RoundRow, average: np.ndarray) -> None:
    """Move the global adapter by one closed round (the caller commits with the round)."""
    row = _row(session, federation.id)
    if round_row.number <= row.last_round_number:
        return  # already applied (a replayed close cannot apply twice)
    params = _vector(blobs, row.params_blob)
    params = np.zeros(federation.dimension) if params is None else params
    new, m, v = apply_rule(UpdateRule(**row.rule), params, average,
                           _vector(blobs, row.m_blob),
                           _vector(blobs, row.v_blob))
    row.params_blob, row.m_blob, row.v_blob = _put(blobs, new), _put(blobs, m), _put(blobs, v)
    row.rounds_applied += 1
    row.last_round_number = round_row.number
