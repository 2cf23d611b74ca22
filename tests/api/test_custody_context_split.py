"""Adversarial review 2, the attack as found: "each custodian votes once per round" rests
on a ledger keyed by the key context's digest, and the context takes the federation id
from the server's reply, which no custodian pins. After a restart in mid-round (its
share and ledger still in the state file), a custodian told another federation id signs
a second vote for the same round, and decrypts that second set with its real key share.
Here every custodian committed (no joiner needed): all four vote for the four uploads
and two decrypt them. The server then fails as it would report the round closed (the
custodians stop with their share and ledger kept), presents the round in "agree" again
without one upload, and gives the restarted custodians 1, 2, 3 a different federation
id. It stores their votes itself (the real route would check them under the real
context), and the custodians decrypt the second set: the two sums differ by one client's
upload.

Fixed: a custodian refuses a server that answers for another federation, and keys its
ledger by federation and round.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete

from blindsum.aggregator.models import MessageRow, RoundRow
from blindsum.client_sdk.custodian import CustodianCore, CustodianState
from blindsum.client_sdk.flows import Reply, arun
from blindsum.errors import ProtocolError, RoundStateError, ServiceUnavailableError

from .custody_helpers import message_count, threshold_world

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "v" * 32
DIM = 40








def test_a_second_federation_id_gets_no_second_vote_nor_decryption(tmp_path) -> None:
    async def scenario():
        world = await threshold_world(tmp_path, admin_token=ADMIN, timeout=60,
                                      dim=DIM)
        app, admin, fed = world.app, world.admin, world.fed
        sites, clients = world.sites, world.clients
        updates = [np.random.default_rng(21 + i).uniform(-0.01, 0.01, DIM) for i in range(4)]
        victim = clients[3].client_id
        round_ = await admin.open_round(fed.id)
        rid = round_.id

        def phase1(core, tr):  # honest, until the service fails as the round closes
            async def send(call):
                reply = await tr.send(call)
                if call.method == "GET" and call.path.endswith(f"/rounds/{rid}") and \
                        reply.json()["stage"] == "closed":
                    raise ServiceUnavailableError("503 from the aggregator")
                return reply
            return arun(core.serve_round_flow(round_, timeout=60), send)

        async def client(c, u):
            return await c.submit(u, await c.next_round(timeout=30), timeout=60)

        out = await asyncio.gather(*(phase1(core, tr) for core, tr in sites),
                                   *(client(c, u) for c, u in zip(clients, updates, strict=True)),
                                   return_exceptions=True)
        assert all(isinstance(o, ServiceUnavailableError) for o in out[:4]), out
        first = await admin.result(fed.id, rid)
        np.testing.assert_allclose(first, np.sum(updates, axis=0), atol=1e-5)

        # the lie: the round back in "agree" without the victim's upload
        with app.state.sessions() as s:
            s.execute(delete(MessageRow).where(MessageRow.round_id == rid,
                                               MessageRow.stage == "agree"))
            s.execute(delete(MessageRow).where(MessageRow.round_id == rid,
                                               MessageRow.stage == "upload",
                                               MessageRow.sender == victim))
            row = s.get(RoundRow, rid)
            row.stage, row.result_blob, row.closed_at = "agree", None, None
            row.stage_deadline = datetime.now(UTC) + timedelta(seconds=60)
            row.custody = {k: v for k, v in row.custody.items()
                           if k in ("committed", "seed", "key_b_blob", "key_digest",
                                    "confirmed")}
            s.commit()

        def phase2(core, tr):
            async def send(call):
                if call.method == "POST" and call.path.endswith("/custody/vote"):
                    body = json.dumps(call.json).encode()  # stored as the server likes
                    with app.state.sessions() as s:
                        s.add(MessageRow(round_id=rid, stage="agree", sender=core.index,
                                         body=body, digest=hashlib.sha256(body).digest(),
                                         created_at=datetime.now(UTC)))
                        s.commit()
                    return Reply(202, b"{}")
                reply = await tr.send(call)
                if call.method == "GET" and call.path == f"/v1/federations/{fed.id}":
                    return Reply(200, json.dumps({**reply.json(), "id": "another-id"}).encode())
                return reply

            async def go():
                again = await arun(core.next_round_flow(timeout=10), tr.send)
                assert again.id == rid and again.stage == "agree"
                return await arun(core.serve_round_flow(again, timeout=60), send)
            return go()

        restarted = []
        for i in (0, 1, 2):  # custodians 1, 2, 3 restart from their state files
            path = tmp_path / f"k{i}.json"
            state = CustodianState.load(path)
            assert rid in state.shares and rid in state.ledgers  # voted for the first set
            restarted.append((CustodianCore(state, path), sites[i][1]))
        outcomes = await asyncio.gather(*(phase2(core, tr) for core, tr in restarted),
                                        return_exceptions=True)
        # each refuses: the server answered for another federation than the pinned one
        assert all(isinstance(o, ProtocolError) for o in outcomes), outcomes
        assert message_count(app, rid, "agree") == 0
        # and under the pinned federation id the ledger (keyed by federation and round,
        # kept for good) refuses a second set for the round
        from blindsum.client_sdk.threshold import key_context
        from blindsum.crypto.ckks.threshold.custodian import (
            ContributorSet,
            CustodianLedger,
            vote,
        )

        core = restarted[0][0]
        federation = await admin.federation(fed.id)
        context = key_context(federation, await admin.round(fed.id, rid), core.state.custodian_pin)
        fewer = ContributorSet(tuple((c.client_id, bytes(32)) for c in clients[:3]))
        with pytest.raises(RoundStateError, match="another set"):
            vote(context, CustodianLedger.from_json(core.state.ledgers[rid]), core.index,
                 core.identity_key, fewer)
        second = None

        await world.close()
        return updates, first, second

    updates, first, second = asyncio.run(scenario())
    assert second is None  # no second sum: the victim's update is not a difference away
    np.testing.assert_allclose(first, np.sum(updates, axis=0), atol=1e-5)
