"""Adversarial review 3: a client has no freshness binding between the round it uploads
to and the key it checks. Its only check is ``round.number > last_round``, but the
number is not bound to the round id, and the key context (and so every confirmation)
is bound to the id only. A lying server re-announces a finished round's id under a new
number; the client fetches that round's key and its t genuine confirmations, checks them
and encrypts under the old key.

Chained with the documented known limit ("a crafted upload unlocks the key ... Keys
rotate every round, so it opens that round only"): one colluding client's crafted upload
in round 1 gives the server round 1's secret; re-announcing round 1's id then opens every
later upload of every honest client, one by one, with no custodian involved.

Fixed: the round's number is in the key's context (so its confirmations), custodians'
confirmations carry when they were given and a client refuses one older than three
stage timeouts, and a client refuses a round id it already took part in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import numpy as np
import pytest

from blindsum.aggregator.models import MessageRow, RoundRow
from blindsum.client_sdk.flows import Call, Reply, arun
from blindsum.crypto import base64url
from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
from blindsum.crypto.ckks.encryptor import sign_upload
from blindsum.crypto.ckks.threshold.decryption import decode, fuse
from blindsum.crypto.ckks.threshold.keys import data_basis
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues
from blindsum.crypto.ckks.wire import decode_upload, encode_upload
from blindsum.errors import RoundStateError
from blindsum.wire import RoundPublic

from .custody_helpers import threshold_world

pytest.importorskip("tenseal")

ADMIN = "review3-admin-" + "r" * 32
DIM = 40


def test_a_finished_rounds_key_replayed_under_a_new_number_is_refused(tmp_path) -> None:
    async def scenario():
        world = await threshold_world(tmp_path, admin_token=ADMIN, timeout=20,
                                      dim=DIM)
        app, admin, fed = world.app, world.admin, world.fed
        sites, clients = [k for k, _ in world.sites], world.clients
        colluder, honest = clients[0], clients[1:]
        params = ThresholdParams.derive(max_clients=6, max_abs=fed.clip_norm, custodians=4,
                                        threshold=2)
        ckks = params.ckks
        basis = data_basis(ckks)
        big = 2**105

        # Round 1: the documented known limit, through the real service. The colluder
        # uploads (0, D); the custodians decrypt the sum; the range check aborts the
        # round, but the partials are stored and the server fuses them itself.
        round1 = await admin.open_round(fed.id)

        async def crafted() -> None:
            r = await colluder.next_round(timeout=30)
            while r.stage != "upload":
                reply = await colluder.transport.send(Call(
                    "GET", f"/v1/federations/{fed.id}/rounds/{r.id}",
                    params={"after": r.stage, "wait": 5.0}, timeout=35))
                r = RoundPublic.model_validate(reply.json())
            chunks = ckks.chunks(DIM)
            words = np.zeros((chunks, 2, len(basis.primes), basis.n), dtype=np.uint64)
            words[:, 1] = np.array([big % q for q in basis.primes], dtype=np.uint64)[:, None]
            data = encode_upload(ckks, DIM, words.reshape(chunks, -1))
            sig = sign_upload(colluder.identity_key, r.id.encode(), colluder.client_id, data)
            await colluder.transport.send(Call(
                "PUT", f"/v1/federations/{fed.id}/rounds/{r.id}/ckks-upload", content=data,
                headers={"Content-Type": "application/octet-stream",
                         "X-Blindsum-Signature": base64url.encode(sig)}))

        async def honest_client(c, seed):
            u = np.random.default_rng(seed).uniform(-0.01, 0.01, DIM)
            with contextlib.suppress(RoundStateError):
                await c.submit(u, await c.next_round(timeout=30), timeout=90)

        await asyncio.gather(*(s.serve_round(round1, timeout=60) for s in sites), crafted(),
                             *(honest_client(c, 100 + i) for i, c in enumerate(honest)))
        with app.state.sessions() as s:
            row = s.get(RoundRow, round1.id)
            assert row is not None and row.stage == "aborted", row.stage
            state = dict(row.custody or {})
            uploads = [(m.sender, app.state.blobs.get(m.blob), m.body) for m in
                       s.query(MessageRow).filter(MessageRow.round_id == round1.id,
                                                  MessageRow.stage == "upload")]
        acc = EncryptedSumAccumulator(ckks, DIM, round_id=round1.id.encode())
        for cid, up, sig in uploads:
            acc.add(up, client_id=cid, signature=sig)
        total = acc.ciphertext_sum().reshape(-1, ckks.words_per_chunk)
        partials = {int(i): decode_residues(basis, app.state.blobs.get(d), ckks.chunks(DIM))
                    for i, d in state["partials"].items()}
        plain = fuse(ckks, total, partials)
        coefficients = basis.centered_big(basis.intt(plain[:1]))[0]
        secret = basis.ntt(basis.from_signed(np.array([round(c / big) for c in coefficients])))

        # Round "2": the lying server re-announces round 1's id with number 2 to an honest
        # client. Key, collective key, roster and federation come from the real service.
        victim = honest[0]
        announced = (await victim.transport.send(Call(
            "GET", f"/v1/federations/{fed.id}/rounds/{round1.id}"))).json()
        replay = {**announced, "number": 2, "stage": "upload", "abort_reason": None,
                  "closed_at": None, "contributors": None}
        captured: list[bytes] = []

        async def lying_send(call):
            if call.path.endswith("/rounds/current") or \
                    (call.method == "GET" and call.path.endswith(f"/rounds/{round1.id}")):
                body = replay if not captured else {**replay, "stage": "closed",
                                                    "contributors": [victim.client_id]}
                return Reply(200, json.dumps(body).encode())
            if call.method == "PUT" and call.path.endswith("/ckks-upload"):
                captured.append(bytes(call.content))
                return Reply(202, json.dumps({"round_id": round1.id, "stage": "upload",
                                              "stored": True}).encode())
            return await victim.transport.send(call)

        x = np.random.default_rng(7).uniform(-0.01, 0.01, DIM)
        refused = None
        try:
            r2 = await arun(victim.next_round_flow(timeout=5), lying_send)
            assert r2.id == round1.id and r2.number == 2
            await arun(victim.submit_flow(x, r2, timeout=10), lying_send)
        except Exception as exc:
            refused = exc
        await world.close()
        return refused, captured, secret, x, ckks, basis

    refused, captured, secret, x, ckks, basis = asyncio.run(scenario())
    if refused is None:
        assert len(captured) == 1
        words = decode_upload(captured[0], ckks, DIM).reshape(-1, 2, 3, basis.n)
        stolen = decode(ckks, basis.add(words[:, 0], basis.mul(words[:, 1], secret)), DIM)
        # the attack works: the honest client's new update, read alone by the server
        assert np.abs(stolen - x).max() >= 1e-4, "a replayed round key opened a later upload"
    assert refused is not None

