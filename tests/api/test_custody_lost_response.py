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
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from blindsum.aggregator.models import MessageRow
from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncClient
from blindsum.client_sdk.custodian import CustodianCore, CustodianState
from blindsum.client_sdk.transport import AsyncTransport

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "w" * 32
BASE = "http://blindsum.test"
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


async def _custodian(asgi, fid: str, code: str, path: Path, lossy=None):
    from blindsum.client_sdk.custodian import _raw
    from blindsum.crypto.identity import generate_exchange_key, generate_identity_key

    identity, exchange = generate_identity_key(), generate_exchange_key()
    async with AsyncTransport(BASE, transport=asgi) as anonymous:
        enrolled = await anonymous.run(CustodianCore.enrollment_flow(fid, code, identity,
                                                                     exchange))
    state = CustodianState(url=BASE, federation_id=fid, custodian_index=enrolled.custodian_index,
                           token=enrolled.token, identity_key=_raw(identity),
                           exchange_key=_raw(exchange))
    return CustodianCore(state, path), AsyncTransport(BASE, enrolled.token, backoff_seconds=0.05,
                                                      transport=lossy or asgi)


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
        sites = [await _custodian(asgi, fed.id, await admin.invite(fed.id, f"k{i}", "custodian"),
                                  tmp_path / f"k{i}.json", lossy if i == 3 else None)
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
