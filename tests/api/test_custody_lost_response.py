"""Adversarial review 2, the attack as found: A custodian message that closes its stage,
whose response is lost, is retried by the SDK (every custody call is marked idempotent)
and answered 409: custody messages lack the "already recorded" acknowledgement client
uploads have. The SDK custodian then stops; having committed, it never reveals, and the
whole round aborts. One dropped TCP response (or a proxy that resets it) aborts a round.

Fixed: a custody message already stored is acknowledged whatever stage the round is in,
and a stage is closed only by a message of that stage.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from blindsum.aggregator.models import MessageRow
from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncClient

from .custody_helpers import BASE, enroll_custodian

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "w" * 32
DIM = 40


class LosesOneResponse(httpx.AsyncBaseTransport):
    """The request reaches the service; its response is lost on the way back, once."""

    def __init__(self, inner: httpx.AsyncBaseTransport, suffix: str) -> None:
        self.inner, self.suffix, self.lost = inner, suffix, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith(self.suffix) and \
                not self.lost:
            await response.aread()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response




def test_a_lost_response_to_the_last_commitment_does_not_abort_the_round(tmp_path) -> None:
    async def scenario():
        app = create_app(Settings(data_dir=tmp_path / "data", admin_token=ADMIN,
                                  database_url=f"sqlite:///{tmp_path / 'service.db'}"))
        asgi = httpx.ASGITransport(app=app)
        lossy = LosesOneResponse(asgi, "/custody/commitment")
        admin = AsyncAdmin(BASE, ADMIN, transport=asgi)
        fed = await admin.create_federation("t", "ckks", [("w", (DIM,))], min_clients=3,
                                            max_clients=6, custody="threshold", custodians=4,
                                            custodian_threshold=2, stage_timeout_seconds=5)
        sites = [await enroll_custodian(lossy if i == 3 else asgi, fed.id,
                                        await admin.invite(fed.id, f"k{i}", "custodian"),
                                        tmp_path / f"k{i}.json",
                                        **({"backoff_seconds": 0.05} if i == 3 else {}))
                 for i in range(4)]
        for i in range(3):
            await AsyncClient.enroll(BASE, fed.id, await admin.invite(fed.id, f"c{i}"),
                                     transport=asgi, state_file=tmp_path / f"c{i}.json")
        round_ = await admin.open_round(fed.id)

        def commits() -> int:
            with app.state.sessions() as s:
                return int(s.scalar(select(func.count()).select_from(MessageRow).where(
                    MessageRow.round_id == round_.id, MessageRow.stage == "key-commit")) or 0)

        tasks = [asyncio.create_task(tr.run(core.serve_round_flow(round_, timeout=30)))
                 for core, tr in sites[:3]]
        while commits() < 3:
            await asyncio.sleep(0.05)
        core, tr = sites[3]  # its commitment is the last one: it closes the stage
        fourth = await asyncio.gather(tr.run(core.serve_round_flow(round_, timeout=30)),
                                      return_exceptions=True)
        stored = commits()
        finals = await asyncio.gather(*tasks)
        await admin.aclose()
        for _, t in sites:
            await t.aclose()
        app.state.engine.dispose()
        return lossy.lost, fourth[0], stored, finals

    lost, fourth, stored, finals = asyncio.run(scenario())
    assert lost == 1 and stored == 4  # the commitment was stored
    # its retry was acknowledged as already stored, and the custodian carried on: the
    # round made its key (it aborts later only because no client uploads here)
    assert not isinstance(fourth, BaseException), fourth
    assert all("reveal" not in (f.abort_reason or "") and "commit" not in (f.abort_reason or "")
               for f in [fourth, *finals])
