"""Adversarial review 2, the attack as found: A lying aggregator makes honest SDK
custodians vote for, and decrypt, two contributor sets of one round, and subtracts the
sums: one client's upload.  No custodian colludes. The aggregator (operator: database
and admin token) lets custodians 1 and 2 make the key and 3 and 4 join it later (it just
closes the commit stage after two commitments). Phase 1: custodians 1, 3, 4 vote for the
four uploads, 1 and 3 decrypt, the round closes. Then the server tells the custodians
the same round (same id, so the same key and the same signed uploads) is round number 2,
back in the agree stage, with one upload left out. The joiners 3 and 4 dropped their
share and ledger when the round "ended"; they rebuild the share from the reveals the
server still holds, and with an empty ledger vote again. Custodian 2 (restarted after it
confirmed the key) votes once. Three votes = q for the second set: the difference of the
two sums is the left-out upload.

Fixed: a custodian keeps what it accepted in each round for good and never serves a
finished round again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import delete

from blindsum.aggregator.models import MessageRow, RoundRow
from blindsum.client_sdk import AsyncCustodian
from blindsum.errors import ProtocolError, ServiceUnavailableError

from .custody_helpers import message_count, stage_of, threshold_world, until

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "r" * 32
DIM = 40










def test_a_lying_server_cannot_get_a_second_sum_of_a_finished_round(tmp_path) -> None:
    async def scenario():
        world = await threshold_world(tmp_path, admin_token=ADMIN, timeout=60,
                                      dim=DIM)
        app, asgi, admin, fed = world.app, world.asgi, world.admin, world.fed
        sites, clients = world.sites, world.clients
        updates = [np.random.default_rng(7 + i).uniform(-0.01, 0.01, DIM) for i in range(4)]
        victim = clients[3].client_id
        round_ = await admin.open_round(fed.id)
        rid = round_.id

        def serve(i: int, r):
            core, tr = sites[i]
            return asyncio.create_task(tr.run(core.serve_round_flow(r, timeout=60)))

        # the key: custodians 1, 2 and 3 commit, the operator closes the stage; 4 comes
        # later (it holds no share of this key, but votes)
        t1, t2, t3 = serve(0, round_), serve(1, round_), serve(2, round_)
        await until(lambda: message_count(app, rid, "key-commit") == 3)
        await admin.close_stage(fed.id, rid)
        await until(lambda: stage_of(app, rid) == "upload")
        t2.cancel()  # custodian 2 confirmed (it holds its share) and then went offline
        now = await admin.round(fed.id, rid)
        t4 = serve(3, now)

        async def client(c, u):
            return await c.submit(u, await c.next_round(timeout=30), timeout=60)

        subs = [asyncio.create_task(client(c, u)) for c, u in zip(clients, updates, strict=True)]
        await until(lambda: stage_of(app, rid) == "agree")
        await until(lambda: message_count(app, rid, "agree") == 3)  # custodians 1, 3, 4
        await admin.close_stage(fed.id, rid)
        finals = await asyncio.gather(t1, t3, t4, *subs)
        assert all(f.stage == "closed" for f in finals[:3]), [f.abort_reason for f in finals]
        first = await admin.result(fed.id, rid)
        np.testing.assert_allclose(first, np.sum(updates, axis=0), atol=1e-5)
        assert sites[2][0].state.shares == {}
        assert rid in sites[2][0].state.ledgers and rid in sites[2][0].state.finished

        # the lie: the same round, renumbered 2, back in "agree", without the victim
        with app.state.sessions() as s:
            s.execute(delete(MessageRow).where(MessageRow.round_id == rid,
                                               MessageRow.stage == "agree"))
            s.execute(delete(MessageRow).where(MessageRow.round_id == rid,
                                               MessageRow.stage == "upload",
                                               MessageRow.sender == victim))
            row = s.get(RoundRow, rid)
            row.stage, row.number, row.result_blob, row.closed_at = "agree", 2, None, None
            row.stage_deadline = datetime.now(UTC) + timedelta(seconds=60)
            row.custody = {k: v for k, v in row.custody.items()
                           if k in ("committed", "seed", "key_b_blob", "key_digest",
                                    "confirmed")}
            s.commit()

        # custodian 2 restarts from its state file; 3 and 4 follow rounds as usual
        path2 = tmp_path / "k1.json"
        restarted = AsyncCustodian.load(path2, transport=asgi)
        assert rid in restarted.state.shares
        sites[1] = (restarted, restarted.transport)
        lie = await admin.round(fed.id, rid)
        for i in (2, 3):  # the round is over for them: not offered again, and refused
            core, tr = sites[i]
            with pytest.raises(ServiceUnavailableError):
                await tr.run(core.next_round_flow(timeout=2))
            with pytest.raises(ProtocolError, match="never served twice"):
                await tr.run(core.serve_round_flow(lie, timeout=10))
        task = serve(1, lie)  # custodian 2 never voted in this round: it may vote once
        await until(lambda: message_count(app, rid, "agree") == 1)
        await admin.close_stage(fed.id, rid)  # one vote of the q = 3 a decryption needs
        assert (await task).stage == "aborted"
        second = None
        assert stage_of(app, rid) == "aborted"

        await world.close()
        return updates, first, second

    updates, first, second = asyncio.run(scenario())
    # the attacker's goal was client 4's update as the difference of two decrypted sums:
    # the second sum was never decrypted
    assert second is None
    np.testing.assert_allclose(first, np.sum(updates, axis=0), atol=1e-5)
