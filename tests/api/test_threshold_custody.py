"""Threshold custody end to end: custodians make each round's key and decrypt its sum,
through the real service (httpx.ASGITransport) and the SDK's own flows.

Then the operator's attack: with everything the aggregator stored (database rows, blobs,
environment), try to decrypt a client's upload and the sum.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncClient, AsyncCustodian
from blindsum.wire import RoundPublic

from .custody_helpers import BASE, enroll_custodian

pytest.importorskip("tenseal")

ADMIN = "threshold-admin-" + "t" * 32
DIM = 300


async def _custodian(asgi, fid: str, code: str, path: Path) -> AsyncCustodian:
    return (await enroll_custodian(asgi, fid, code, path))[0]


async def _federation(tmp_path: Path, serving: int = 4, timeout: float = 20.0):
    app = create_app(Settings(data_dir=tmp_path / "data", admin_token=ADMIN,
                              database_url=f"sqlite:///{tmp_path / 'service.db'}"))
    asgi = httpx.ASGITransport(app=app)
    admin = AsyncAdmin(BASE, ADMIN, transport=asgi)
    fed = await admin.create_federation("threshold", "ckks", [("w", (DIM,))], min_clients=3,
                                        max_clients=6, custody="threshold", custodians=4,
                                        custodian_threshold=2, stage_timeout_seconds=timeout)
    sites = [await _custodian(asgi, fed.id, await admin.invite(fed.id, f"k{i}", "custodian"),
                              tmp_path / f"k{i}.json") for i in range(4)]
    codes = [await admin.invite(fed.id, f"c{i}") for i in range(4)]
    clients = [await AsyncClient.enroll(BASE, fed.id, code, transport=asgi,
                                        state_file=tmp_path / f"c{i}.json")
               for i, code in enumerate(codes)]
    return app, admin, fed, sites[:serving], clients


async def _one_round(admin, fed, sites, clients, seed: int):
    round_ = await admin.open_round(fed.id)
    updates = [np.random.default_rng(seed + i).uniform(-0.01, 0.01, DIM)
               for i in range(len(clients))]

    async def client(c: AsyncClient, update: np.ndarray) -> RoundPublic:
        return await c.submit(update, await c.next_round(timeout=30), timeout=90)

    finals = await asyncio.gather(*(s.serve_round(round_, timeout=60) for s in sites),
                                  *(client(c, u) for c, u in zip(clients, updates, strict=True)))
    total = await clients[0].result(round_.id)
    return updates, total, finals


def test_custodians_make_the_key_and_decrypt_only_the_sum(tmp_path) -> None:
    async def scenario():
        app, admin, fed, sites, clients = await _federation(tmp_path)
        try:
            first = await _one_round(admin, fed, sites, clients, 0)
            second = await _one_round(admin, fed, sites, clients, 10)
        finally:
            await admin.aclose()
            for c in clients:
                await c.aclose()
            for s in sites:
                await s.aclose()
        app.state.engine.dispose()
        return fed, sites, first, second

    fed, sites, *runs = asyncio.run(scenario())
    for updates, total, finals in runs:
        assert all(f.stage == "closed" for f in finals), [f.abort_reason for f in finals]
        np.testing.assert_allclose(total, np.sum(updates, axis=0), atol=1e-5)
    assert fed.custody == "threshold"
    for site in sites:  # a round's key share is gone once the round is over; what the
        # custodian accepted in it is kept for good, and the round is never served again
        assert site.state.shares == {}
        assert len(site.state.ledgers) == 2 and len(site.state.finished) == 2


@pytest.mark.slow
def test_a_custodian_offline_the_whole_round_does_not_stop_it(tmp_path) -> None:
    """m - q = 1 of 4 custodians never shows up: the other three make the key (the commit
    stage waits out its deadline), agree on the contributors (so does the agreement
    stage), and two of them decrypt."""
    async def scenario():
        app, admin, fed, sites, clients = await _federation(tmp_path, serving=3, timeout=8)
        try:
            return await _one_round(admin, fed, sites, clients, 5)
        finally:
            await admin.aclose()
            for c in clients:
                await c.aclose()
            for s in sites:
                await s.aclose()
            app.state.engine.dispose()

    updates, total, finals = asyncio.run(scenario())
    assert all(f.stage == "closed" for f in finals)
    np.testing.assert_allclose(total, np.sum(updates, axis=0), atol=1e-5)


def _operator_candidates(tmp_path: Path) -> list[bytes]:
    """Every secret-looking thing the operator holds after a round: each column of each
    row of the database, each blob and file in the data directory, the environment."""
    import os
    import sqlite3

    found: list[bytes] = []
    with sqlite3.connect(tmp_path / "service.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                found += [v if isinstance(v, bytes) else str(v).encode() for v in row
                          if v is not None]
    found += [p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()]
    found += [v.encode() for v in os.environ.values()]
    return found


def _try_as_secret_keys(candidates: list[bytes], upload: bytes, x: np.ndarray, ckks) -> int:
    """Try each candidate as a TenSEAL context with a secret key, and every aligned
    polynomial inside it as an NTT-form secret; how many decrypt ``upload`` to ``x``."""
    import tenseal as ts

    from blindsum.crypto.ckks.threshold.decryption import decode
    from blindsum.crypto.ckks.threshold.keys import data_basis
    from blindsum.crypto.ckks.wire import decode_upload

    basis = data_basis(ckks)
    words = decode_upload(upload, ckks, DIM)
    size = 8 * basis.n * len(basis.primes)
    hits = tried = 0
    for blob in candidates:
        try:
            context = ts.context_from(blob)
        except Exception:
            context = None
        if context is not None:
            assert not context.has_secret_key()
        starts = (0, 12, 56, 72, 72 + 12)  # bare, AES-GCM nonce, upload and reveal headers
        for offset in sorted({o + k for o in starts
                              for k in range(0, len(blob) - size - o + 1, 8 * basis.n)}):
            s = np.frombuffer(blob, dtype="<u8", count=size // 8, offset=offset).reshape(
                len(basis.primes), basis.n) % np.array(basis.primes, dtype=np.uint64)[:, None]
            tried += 1
            plain = basis.add(words[:, 0], basis.mul(words[:, 1], s))
            if np.abs(decode(ckks, plain, DIM) - x).max() < 1e-3:
                hits += 1
    assert tried >= 250  # the uploads, the reveals, the key and the partials were all tried
    return hits


def test_the_operator_holds_nothing_that_decrypts_an_upload(tmp_path) -> None:
    """As the operator would, after a full round: every row, blob, file and environment
    variable, tried as a TenSEAL secret context and as an NTT secret at every aligned
    offset. Control first: in single-custodian mode the same operator (with the code and
    the data directory's key-encryption key) reads a client's upload; under threshold
    custody nothing it holds decrypts one."""
    from sqlalchemy import select

    from blindsum.aggregator.models import CustodyKeyRow, FederationRow, MessageRow, RoundRow
    from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
    from blindsum.crypto.ckks.custody import LocalKeyCustody
    from blindsum.crypto.ckks.params import CkksParams
    from blindsum.crypto.ckks.threshold.params import ThresholdParams

    async def scenario():
        app, admin, fed, sites, clients = await _federation(tmp_path)
        local = await admin.create_federation("local", "ckks", [("w", (DIM,))],
                                              min_clients=3, max_clients=6, custody="local")
        try:
            updates, _, finals = await _one_round(admin, fed, sites, clients, 0)
        finally:
            await admin.aclose()
            for c in clients:
                await c.aclose()
            for s in sites:
                await s.aclose()
        return app, fed, local, updates, finals[-1]

    app, fed, local, updates, final = asyncio.run(scenario())
    kek = app.state.custody_kek  # what the data directory's custody-kek file decodes to
    with app.state.sessions() as session:
        first = session.scalars(select(MessageRow).where(
            MessageRow.round_id == final.id, MessageRow.stage == "upload")
            .order_by(MessageRow.sender)).first()
        assert first is not None and first.blob is not None
        upload = app.state.blobs.get(first.blob)
        x = updates[[c for c in sorted(final.contributors)].index(first.sender)]
        # Control: local custody. The operator unseals the key with the data dir's KEK and
        # decrypts one upload (its own encryption, as a client's would be).
        row = session.get(CustodyKeyRow, local.id)
        assert row is not None
        fed_row = session.get(FederationRow, local.id)
        params = CkksParams.for_clients(fed_row.max_clients, max_abs=fed_row.clip_norm)
        custody = LocalKeyCustody.unseal(params, row.sealed, kek)
        from blindsum.crypto.ckks.encryptor import CkksEncryptor

        victim = CkksEncryptor(params, custody.public_context()).encrypt(x)
        single = EncryptedSumAccumulator(params, DIM, round_id=b"operator")
        single.add(victim, client_id=1, signature=bytes(64))
        single.close()
        custody._check = lambda *args: None  # type: ignore[method-assign]  # checks skipped
        assert np.abs(custody.decrypt_sum(single, min_clients=1, roster={}) - x).max() < 1e-6
        # Threshold custody: no key row, and nothing stored decrypts the upload.
        assert session.get(CustodyKeyRow, fed.id) is None
        assert session.get(RoundRow, final.id).custody is not None
    app.state.engine.dispose()
    ckks = ThresholdParams.derive(max_clients=6, max_abs=fed.clip_norm, custodians=4,
                                  threshold=2).ckks
    assert _try_as_secret_keys(_operator_candidates(tmp_path), upload, x, ckks) == 0
