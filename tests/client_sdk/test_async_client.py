"""The SDK's AsyncClient runs the same flows as Client, here through httpx.ASGITransport: a
whole SecAgg+ round of concurrent clients against the in-process service, no socket."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncClient
from blindsum.wire import RoundPublic

ADMIN = "async-admin-" + "z" * 32
BASE = "http://blindsum.test"


async def _round(tmp_path, mode: str) -> tuple[list[np.ndarray], np.ndarray, RoundPublic]:
    app = create_app(Settings(data_dir=tmp_path / "data", admin_token=ADMIN))
    asgi = httpx.ASGITransport(app=app)
    async with AsyncAdmin(BASE, ADMIN, transport=asgi) as admin:
        custody = {"custody": "local"} if mode == "ckks" else {}
        fed = await admin.create_federation("async", mode, [("w", (40,))], min_clients=3,
                                            max_clients=6, **custody)
        invites = [await admin.invite(fed.id, f"s{i}") for i in range(4)]
        clients = [await AsyncClient.enroll(BASE, fed.id, code, transport=asgi,
                                            state_file=tmp_path / f"s{i}.json")
                   for i, code in enumerate(invites)]
        await admin.open_round(fed.id)
        updates = [np.random.default_rng(i).uniform(-0.1, 0.1, 40) for i in range(4)]

        async def take_part(client: AsyncClient, update: np.ndarray) -> RoundPublic:
            return await client.submit(update, await client.next_round(timeout=30),
                                       timeout=60)

        finals = await asyncio.gather(*(take_part(c, u) for c, u in zip(clients, updates,
                                                                         strict=True)))
        total = await clients[0].result(finals[0].id)
        report = await admin.privacy_report(fed.id)
        assert {c["client_id"] for c in report["clients"]} == {c.client_id for c in clients}
        for c in clients:
            await c.aclose()
    app.state.engine.dispose()
    return updates, total, finals[0]


@pytest.mark.parametrize("mode", ["secagg", "ckks"])
def test_async_clients_sum_exactly_through_the_asgi_transport(tmp_path, mode) -> None:
    updates, total, final = asyncio.run(_round(tmp_path, mode))
    assert final.stage == "closed" and len(final.contributors) == 4
    np.testing.assert_allclose(total, np.sum(updates, axis=0), atol=1e-3)
