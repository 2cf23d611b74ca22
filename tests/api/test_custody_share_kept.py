"""Adversarial review 2, the attack as found: A custodian keeps a round's key share after
the round ended.  custodian.py promises "a round's share is deleted once the round is
over, so a later compromise of the custodian opens no past round". The share is dropped
only when serve_round_flow returns; if the flow raises (here: the service answers 503
for a while, which a lying server can do at will, after the share is stored) the share
stays in the state file for good: the round ends (aborted), the custodian serves the
next round to its end, and the old share is still there. Stealing the state files of t =
2 such custodians later, with the server's stored upload, decrypts one client's upload
of that past round.

Fixed: a custodian drops the shares of finished rounds after every round it serves and
when it starts.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import select

from blindsum.aggregator.models import MessageRow
from blindsum.client_sdk.custodian import CustodianState
from blindsum.client_sdk.flows import arun
from blindsum.errors import ServiceUnavailableError

from .custody_helpers import threshold_world

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "u" * 32
DIM = 40




def test_a_share_left_by_a_failure_is_dropped_once_the_round_is_over(tmp_path) -> None:
    async def scenario():
        world = await threshold_world(tmp_path, admin_token=ADMIN, timeout=30,
                                      dim=DIM)
        app, admin, fed = world.app, world.admin, world.fed
        sites, clients = world.sites, world.clients
        updates = [np.random.default_rng(11 + i).uniform(-0.01, 0.01, DIM) for i in range(4)]
        round_ = await admin.open_round(fed.id)

        def serve(core, tr, r, outage: bool):
            async def send(call):  # the service "is down" once the round's key is made
                if outage and call.path.endswith("/custody/decryption-request"):
                    raise ServiceUnavailableError("503 from the aggregator")
                return await tr.send(call)
            return arun(core.serve_round_flow(r, timeout=60), send)

        async def client(c, u):
            return await c.submit(u, await c.next_round(timeout=30), timeout=60)

        tasks = [asyncio.create_task(serve(core, tr, round_, i >= 2))
                 for i, (core, tr) in enumerate(sites)]
        tasks += [asyncio.create_task(client(c, u))
                  for c, u in zip(clients, updates, strict=True)]
        down = await asyncio.gather(*tasks[2:4], return_exceptions=True)
        assert all(isinstance(o, ServiceUnavailableError) for o in down), down
        await admin.abort(fed.id, round_.id)  # the round is over
        await asyncio.gather(*tasks[:2], *tasks[4:], return_exceptions=True)

        # the next round: all four custodians serve it to its end as usual
        round2 = await admin.open_round(fed.id)
        finals = await asyncio.gather(
            *(tr.run(core.serve_round_flow(round2, timeout=60)) for core, tr in sites),
            *(client(c, u) for c, u in zip(clients, updates, strict=True)))
        assert all(f.stage == "closed" for f in finals), [f.abort_reason for f in finals]

        with app.state.sessions() as s:
            victim = s.scalars(select(MessageRow).where(
                MessageRow.round_id == round_.id, MessageRow.stage == "upload",
                MessageRow.sender == clients[0].client_id)).one()
            upload, signature = app.state.blobs.get(victim.blob), victim.body
        await world.close()
        return fed, round_.id, updates, upload, signature, clients[0].client_id

    _, rid, _, _, _, _ = asyncio.run(scenario())
    # later: the state files of custodians 3 and 4 are stolen. The round they failed in
    # was over when they next finished a round, which dropped every finished round's share
    stolen = [CustodianState.load(tmp_path / f"k{i}.json") for i in (2, 3)]
    assert all(rid not in st.shares and rid in st.finished for st in stolen)
    assert all(st.shares == {} for st in stolen)  # nothing left to combine
