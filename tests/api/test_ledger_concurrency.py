"""Concurrent DP events of one client: every recorded epsilon composes all events before it."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from blindsum.accounting import epsilon_for
from blindsum.aggregator import db, ledger
from blindsum.aggregator.models import ClientRow, FederationRow, RoundRow
from blindsum.crypto.dp_events import sign_event
from blindsum.crypto.identity import generate_identity_key, identity_public_bytes
from blindsum.errors import BudgetExhaustedError
from blindsum.wire import DPEvent

EVENT = {"mechanism": "dp-sgd", "unit": "example", "noise_multiplier": 1.0, "sample_rate": 0.01,
         "sampling": "poisson", "steps": 300, "max_grad_norm": 1.0, "delta": 1e-5,
         "accountant": "prv", "epsilon_after": 1.0}


def _federation_with_two_rounds(engine) -> tuple[str, int, object]:
    now, key, fid = datetime.now(UTC), generate_identity_key(), f"f-{uuid.uuid4().hex[:8]}"
    with Session(engine) as s:
        s.add(FederationRow(
            id=fid, name=fid, mode="secagg", dimension=8, update_spec={}, spec_hash="x",
            min_clients=3, max_clients=10, dropout_rate=0.1, corruption_rate=0.0, clip_norm=1.0,
            stage_timeout_seconds=60, epsilon_budget=3.0, delta=1e-5, created_at=now,
            client_dp=None))
        s.flush()
        client = ClientRow(federation_id=fid, label="a", token_hash=os.urandom(32),
                           identity_key=identity_public_bytes(key), enrolled_at=now)
        s.add(client)
        s.flush()
        for n in (1, 2):
            s.add(RoundRow(id=f"{fid}-r{n}", federation_id=fid, number=n, stage="closed",
                           version=0, stage_deadline=now + timedelta(hours=1),
                           participants=[client.id], round_seed=os.urandom(32), protocol={},
                           created_at=now))
        s.commit()
        return fid, client.id, key


def test_two_events_recorded_at_once_both_count(database_url, monkeypatch) -> None:
    """Adversarial review of issue 12: each request read the client's history, then both
    computed epsilon from it without the other's event, so no row composed both (1.078 where
    the two signed events compose to 1.449), and the budget check and the report used the
    smaller figure. The interleaving is forced: each
    request waits (up to 1.5 s) for the other before computing."""
    engine = db.make_engine(database_url)
    db.upgrade(engine)
    fid, client_id, key = _federation_with_two_rounds(engine)
    barrier = threading.Barrier(2)

    def interleaved(*args, **kwargs):
        # the fix serialises the requests, so the first one waits here alone until timeout
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1.5)
        return epsilon_for(*args, **kwargs)

    monkeypatch.setattr(ledger, "epsilon_for", interleaved)

    def post(round_id: str) -> None:
        with Session(engine, expire_on_commit=False) as s:
            body = DPEvent.from_json(EVENT).canonical()
            ledger.record_event(s, s.get(FederationRow, fid), s.get(RoundRow, round_id),
                                s.get(ClientRow, client_id), EVENT,
                                sign_event(key, fid, round_id, client_id, body))

    threads = [threading.Thread(target=post, args=(f"{fid}-r{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = epsilon_for([(1.0, 0.01, 300)] * 2, 1e-5)
    with Session(engine) as s:
        assert ledger.latest_epsilon(s, fid, client_id) == both
        federation = s.get(FederationRow, fid)
        federation.epsilon_budget = (both + epsilon_for([(1.0, 0.01, 300)], 1e-5)) / 2
        with pytest.raises(BudgetExhaustedError):
            ledger.check_within_budget(s, federation, s.get(ClientRow, client_id))
    engine.dispose()
