"""Adversarial review 2, the attack as found: One custodian of the active set adds a
constant to its partial decryption; the service fuses it without any check and publishes
a round result that is not the sum of the contributors (here every coordinate + 5.0,
beyond the clip bound of the whole cohort). One custodian suffices: no collusion, no
broken signature.

Fixed in part: a fused sum out of range for its contributors is refused and nothing is
published; a shift within range stays open (no proofs of correct partial decryption).
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from blindsum.client_sdk.flows import arun
from blindsum.crypto.ckks.threshold.keys import data_basis
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues, encode_residues
from blindsum.errors import RoundStateError

from .custody_helpers import threshold_world

pytest.importorskip("tenseal")

ADMIN = "review2-admin-" + "s" * 32
DIM = 40
SHIFT = 5.0




def _shifted(params: ThresholdParams, dimension: int, data: bytes) -> bytes:
    """The partial plus the NTT of the constant polynomial SHIFT * scale."""
    basis = data_basis(params.ckks)
    partial = decode_residues(basis, data, params.ckks.chunks(dimension))
    c = round(SHIFT * 2**params.ckks.scale_bits)
    constant = np.zeros((1, len(basis.primes), basis.n), dtype=np.uint64)
    for i, q in enumerate(basis.primes):
        constant[0, i, 0] = c % q
    return encode_residues(basis, basis.add(partial, basis.ntt(constant)))


def test_one_custodian_cannot_shift_the_published_sum_out_of_range(tmp_path) -> None:
    async def scenario():
        world = await threshold_world(tmp_path, admin_token=ADMIN, timeout=30,
                                      dim=DIM)
        admin, fed = world.admin, world.fed
        sites, clients = world.sites, world.clients
        params = ThresholdParams.derive(max_clients=fed.max_clients, max_abs=fed.clip_norm,
                                        custodians=4, threshold=2)
        updates = [np.random.default_rng(3 + i).uniform(-0.01, 0.01, DIM) for i in range(4)]
        round_ = await admin.open_round(fed.id)
        tampered: list[int] = []

        def malicious(core, tr):  # every custodian runs this: whichever is active cheats
            async def send(call):
                if call.method == "PUT" and call.path.endswith("/custody/partial") and \
                        not tampered:
                    tampered.append(core.index)
                    call = dataclasses.replace(call, content=_shifted(params, DIM, call.content))
                return await tr.send(call)
            return arun(core.serve_round_flow(round_, timeout=60), send)

        async def client(c, u):
            return await c.submit(u, await c.next_round(timeout=30), timeout=60)

        finals = await asyncio.gather(*(malicious(core, tr) for core, tr in sites),
                                      *(client(c, u) for c, u in zip(clients, updates,
                                                                     strict=True)),
                                      return_exceptions=True)
        try:
            total = await admin.result(fed.id, round_.id)
        except RoundStateError:
            total = None
        await world.close()
        return updates, total, finals, tampered, fed

    _, total, finals, tampered, _ = asyncio.run(scenario())
    assert len(tampered) == 1  # one partial changed, by one custodian
    # the attacker's goal was a published sum that is not the contributors' (theirs + 5.0):
    # the fused sum is out of range, the round aborts and nothing is published
    assert total is None
    custodian_finals = [f for f in finals[:4] if not isinstance(f, BaseException)]
    assert custodian_finals and all(f.stage == "aborted" for f in custodian_finals)
    assert "out of range" in (custodian_finals[0].abort_reason or "")
