"""The privacy ledger: what each client asserts it spent, re-checked by the server.

Rows are only ever inserted. For a DP-SGD event the server verifies the
client's Ed25519 signature over the exact event bytes, recomputes the
client's epsilon over *all* its events in the federation with the same
accountant (:mod:`blindsum.accounting`), and flags a reported epsilon below the
recomputed one (over-reporting is honest: a client that trained, then dropped
before its event was recorded). A client whose recomputed epsilon exceeds the federation's budget
has its event recorded (the spend happened) and every later upload refused.
Distributed-DP rounds add one server-asserted client-level row per contributor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blindsum.accounting import (
    distributed_dg_epsilon,
    epsilon_for,
    under_reported,
)
from blindsum.aggregator.models import ClientRow, FederationRow, LedgerRow, RoundRow
from blindsum.crypto.dp_events import verify_event
from blindsum.errors import BudgetExhaustedError, ProtocolError
from blindsum.wire import DPEvent

__all__ = [
    "check_within_budget",
    "event_json",
    "latest_epsilon",
    "record_client_level",
    "record_event",
    "rows_of",
]

def _validated(event: object, federation: FederationRow) -> DPEvent:
    e = DPEvent.from_json(event)
    if e.delta != federation.delta:
        raise ProtocolError(f"the event's delta {e.delta} is not the federation's "
                            f"{federation.delta}")
    return e


def rows_of(session: Session, federation_id: str, client_id: int | None = None
            ) -> list[LedgerRow]:
    query = select(LedgerRow).where(LedgerRow.federation_id == federation_id)
    if client_id is not None:
        query = query.where(LedgerRow.client_id == client_id)
    return list(session.scalars(query.order_by(LedgerRow.id)))


def record_event(session: Session, federation: FederationRow, round_row: RoundRow,
                 client: ClientRow, event: DPEvent | Mapping[str, Any],
                 signature: bytes) -> LedgerRow:
    """Verify, recompute and append one DP-SGD event; idempotent for the same bytes."""
    e = _validated(event, federation)
    body = e.canonical()
    verify_event(client.identity_key, signature, federation.id, round_row.id, client.id, body)
    if client.id not in round_row.participants:
        raise ProtocolError("this client is not a participant of the round")
    _lock_client(session, client)
    existing = session.scalar(select(LedgerRow).where(
        LedgerRow.round_id == round_row.id, LedgerRow.client_id == client.id,
        LedgerRow.mechanism == "dp-sgd"))
    if existing is not None:
        if existing.event != body:
            raise ProtocolError("a different DP event of this client is already in the ledger "
                                "for this round (the ledger is append-only)")
        return existing
    history = [(r.noise_multiplier, r.sample_rate, r.steps)
               for r in rows_of(session, federation.id, client.id) if r.mechanism == "dp-sgd"]
    history.append(e.history_entry)
    recomputed = epsilon_for(history, federation.delta, e.accountant)
    reported = e.epsilon_after
    row = LedgerRow(
        federation_id=federation.id, round_id=round_row.id, round_number=round_row.number,
        client_id=client.id, mechanism="dp-sgd", unit="example",
        noise_multiplier=e.noise_multiplier, sampling=e.sampling,
        sample_rate=e.sample_rate, steps=e.steps,
        clip_norm=e.max_grad_norm, delta=federation.delta, accountant=e.accountant,
        epsilon_reported=reported, epsilon_recomputed=recomputed,
        mismatch=under_reported(reported, recomputed),
        event=body, signature=signature, created_at=datetime.now(UTC))
    session.add(row)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent duplicate: the first one stands
        session.rollback()
        raise ProtocolError("this client's DP event for the round is already recorded") from exc
    return row


def _lock_client(session: Session, client: ClientRow) -> None:
    """Serialise one client's ledger appends: a write to its row takes the row's lock on
    PostgreSQL and the database write lock on SQLite until the caller commits, so the
    history read next holds every event committed before it (two events recorded at once
    would otherwise each compose only its own)."""
    session.execute(update(ClientRow).where(ClientRow.id == client.id)
                    .values(label=ClientRow.label))


def latest_epsilon(session: Session, federation_id: str, client_id: int) -> float:
    """What the client has spent: the largest recomputed or signed figure in its rows (its
    own figure also counts steps of rounds it dropped out of; the report uses the same)."""
    rows = rows_of(session, federation_id, client_id)
    return max((max(r.epsilon_recomputed, r.epsilon_reported or 0.0) for r in rows),
               default=0.0)


def check_within_budget(session: Session, federation: FederationRow, client: ClientRow) -> None:
    """Refuse an upload from a client the ledger shows over the federation's budget."""
    spent = latest_epsilon(session, federation.id, client.id)
    if spent > federation.epsilon_budget:
        raise BudgetExhaustedError(
            f"the ledger shows this client at epsilon {spent:.3f}, over the federation's "
            f"budget of {federation.epsilon_budget:g}; its uploads are refused")


def record_client_level(session: Session, federation: FederationRow, round_row: RoundRow,
                        contributors: list[int], terms: dict[str, float],
                        effective_noise_multiplier: float) -> None:
    """One server-asserted client-level row per contributor of a distributed-DP round (the
    caller commits with the round's result). ``terms`` (``DDGParams.accounting_terms``) are
    kept in the row, and its epsilon is Kairouz et al.'s bound over every round the client
    contributed to (:data:`blindsum.accounting.CLIENT_LEVEL_ACCOUNTING`)."""
    assert federation.client_dp is not None
    body = json.dumps(terms, sort_keys=True, separators=(",", ":")).encode()
    for client_id in contributors:
        history = [json.loads(r.event) for r in rows_of(session, federation.id, client_id)
                   if r.mechanism == "distributed-dp" and r.event is not None]
        epsilon = distributed_dg_epsilon([*history, terms], federation.delta)
        session.add(LedgerRow(
            federation_id=federation.id, round_id=round_row.id, round_number=round_row.number,
            client_id=client_id, mechanism="distributed-dp", unit="client",
            noise_multiplier=effective_noise_multiplier, sampling="none", sample_rate=1.0,
            steps=1, clip_norm=federation.clip_norm, delta=federation.delta,
            accountant="ddg-rdp", epsilon_reported=None, epsilon_recomputed=epsilon,
            mismatch=False, event=body, signature=None, created_at=datetime.now(UTC)))


def event_json(row: LedgerRow) -> dict[str, Any] | None:
    return None if row.event is None else dict(json.loads(row.event))
