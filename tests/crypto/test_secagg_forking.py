"""A lying server that forks the survivor set, withholds envelopes, replays certificates,
weakens parameters or grinds the graph: it never reconstructs a single client's input.

Each test runs the attack with the real client state machines (``LyingServer``) and then
tries the reconstruction an attacker would (``reconstruct_inputs``, ``exposed_sums``).
The forking attack is the one that recovered every victim's exact input at n = 30, 50
and 100 before survivor sets needed a quorum certificate (only t signatures were asked
for then); the control tests show the same reconstruction succeeds as soon as the stated
assumptions are broken, so these assertions can fail.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from blindsum.crypto.secagg import SecAggParams
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import SurvivorSet
from blindsum.crypto.secagg.simulate import SimulatedCohort, new_cohort
from blindsum.errors import ConfigError, InvalidSignatureError

from .secagg_adversary import LyingServer, Plan, exposed_sums, reconstruct_inputs


def _inputs(cohort: SimulatedCohort, seed: int = 1) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {u: rng.integers(0, 2**32, cohort.context.dimension, dtype=np.uint32)
            for u in cohort.context.participants}


def _recovered(cohort: SimulatedCohort, seen, inputs) -> set[int]:
    return {u for u, x in reconstruct_inputs(cohort, seen).items()
            if np.array_equal(x, inputs[u])}


def _position(ctx: RoundContext, victim: int):
    ring = ctx.ring
    at = ring.index(victim)
    return lambda i: ring[(at + i) % len(ring)]


def forking_plan(ctx: RoundContext, victim: int) -> Plan:
    """Issue 11's break: the victim holds only t envelopes (the far t/2 neighbours on each
    side, set H); group A = victim + H sees everyone but the victim's other neighbours
    survive, so A reveals the victim's self-mask seed; group B sees H dropped, so B reveals
    every mask key in H; y_victim minus PRG(b) and the H pair masks is the input."""
    graph, k, t = ctx.graph, ctx.params.neighbours, ctx.params.threshold
    rel, half = _position(ctx, victim), k // 2
    plus, minus = (t + 1) // 2, t // 2
    held = ({rel(i) for i in range(half - plus + 1, half + 1)}
            | {rel(-i) for i in range(half - minus + 1, half + 1)})
    everyone = set(ctx.graph_members)
    group_a = {victim} | held
    universe_a = everyone - (graph[victim] - held)
    view_a = SurvivorSet(tuple(sorted(universe_a)), ())
    view_b = SurvivorSet(tuple(sorted(everyone - held)), tuple(sorted(held)))
    plan = Plan()
    for w in group_a:
        plan.held[w] = graph[w] & universe_a
        plan.views[w] = view_a
    for w in everyone - group_a:
        if len(graph[w] - held) >= t:  # B members whose own checks pass
            plan.views[w] = view_b
    return plan


@pytest.mark.parametrize("n, victims",
                         [(30, 2), (50, 2), pytest.param(100, 1, marks=pytest.mark.slow)])
def test_forking_server_reconstructs_no_input(n, victims) -> None:
    cohort = new_cohort(n, 32)
    inputs = _inputs(cohort)
    for victim in cohort.context.participants[:victims]:
        server = LyingServer(cohort)
        seen = server.run(forking_plan(server.relay_adverts(), victim), inputs)
        assert _recovered(cohort, seen, inputs) == set()
        assert exposed_sums(cohort, seen) == []
        # the victim's group is far below the quorum and refuses to unmask
        assert "quorum" in server.out.refused[victim]
        assert victim not in {m.sender for m in seen.unmask}


def test_control_an_honest_server_learns_exactly_the_sum() -> None:
    """The reconstruction machinery at work: with every message relayed honestly the server
    unmasks the sum of all survivors (one exposed group), and no single input."""
    cohort = new_cohort(30, 32)
    inputs = _inputs(cohort)
    everyone = cohort.context.participants
    honest = SurvivorSet(tuple(everyone), ())
    seen = LyingServer(cohort).run(Plan(views={u: honest for u in everyone}), inputs)
    assert len(seen.unmask) == len(everyone)
    assert exposed_sums(cohort, seen) == [frozenset(everyone)]
    assert _recovered(cohort, seen, inputs) == set()


def test_control_t_colluding_neighbours_do_recover_the_victim() -> None:
    """Outside the stated assumption (t colluders where c = 0 was declared) the very same
    reconstruction recovers the victim: the tests above would notice a real leak."""
    cohort = new_cohort(30, 32)
    inputs = _inputs(cohort)
    victim, t = 1, cohort.context.params.threshold
    server = LyingServer(cohort)
    colluders = set(sorted(server.relay_adverts().graph[victim])[:t])
    everyone = cohort.context.participants
    honest = SurvivorSet(tuple(everyone), ())
    seen = server.run(Plan(views={u: honest for u in everyone}, colluders=colluders), inputs)
    assert victim in _recovered(cohort, seen, inputs)


def test_sets_that_differ_by_one_client_are_never_both_certified() -> None:
    cohort = new_cohort(30, 32)
    inputs = _inputs(cohort)
    everyone = list(cohort.context.participants)
    victim = everyone[0]
    truth = SurvivorSet(tuple(everyone), ())
    lie = SurvivorSet(tuple(u for u in everyone if u != victim), (victim,))
    quorum = cohort.context.params.quorum
    for split in (quorum - 1, len(everyone) // 2, len(everyone) - quorum + 1):
        views = {u: (lie if i < split else truth) for i, u in enumerate(everyone)
                 if u != victim}
        views[victim] = truth
        seen = LyingServer(cohort).run(Plan(views=views), inputs)
        revealed_for = {views[m.sender] for m in seen.unmask}
        assert len(revealed_for) <= 1, split
        assert _recovered(cohort, seen, inputs) == set()
        for group in exposed_sums(cohort, seen):
            assert len(group) >= cohort.context.params.min_survivors


def test_a_set_certified_by_the_old_threshold_is_refused() -> None:
    cohort = new_cohort(30, 32)
    inputs = _inputs(cohort)
    everyone = cohort.context.participants
    t = cohort.context.params.threshold
    honest = SurvivorSet(tuple(everyone), ())
    shown = set(everyone[:t])
    seen = LyingServer(cohort).run(
        Plan(views={u: honest for u in everyone}, signatures_for={u: shown for u in everyone}),
        inputs)
    assert seen.unmask == []
    assert all("quorum" in why for why in seen.refused.values())
    assert len(seen.refused) == len(everyone)


def test_a_certificate_replayed_from_another_round_is_refused(stepwise_round, seeds) -> None:
    r = stepwise_round(n=8)
    signatures = r.sign()
    later = SimulatedCohort(dataclasses.replace(r.cohort.context, round_number=2,
                                                round_seed=seeds()),
                            r.cohort.identity_keys)
    r2 = stepwise_round(cohort=later, inputs=r.inputs)
    r2.sign()  # the same clients, the same survivor set, one round later
    with pytest.raises(InvalidSignatureError):
        r2.clients[1].unmask(signatures)


@pytest.mark.parametrize("change", [
    {"neighbours": 2, "threshold": 2},
    {"neighbours": 4, "threshold": 3},
    {"min_survivors": 10},
])
def test_parameters_weaker_than_the_derived_ones_are_refused(change) -> None:
    derived = SecAggParams.derive(50)
    announced = dataclasses.replace(derived, **change)
    cohort = new_cohort(50, 16, params=announced)
    with pytest.raises(ConfigError, match="weaker"):
        LyingServer(cohort, client_factory=lambda u: _client(cohort, u, required=derived))


def test_fewer_tolerated_colluders_than_declared_are_refused() -> None:
    derived = SecAggParams.derive(50, corruption_rate=0.1)
    announced = SecAggParams.derive(50)
    cohort = new_cohort(50, 16, params=announced)
    with pytest.raises(ConfigError, match="max_corrupted"):
        _client(cohort, 1, required=derived)


def test_a_roster_with_one_key_for_two_participants_is_refused() -> None:
    cohort = new_cohort(8, 16)
    keys = dict(cohort.identity_keys)
    keys[2] = keys[3]
    cloned = SimulatedCohort(cohort.context, keys)
    with pytest.raises(ConfigError, match="identity key"):
        _client(cloned, 1, required=cloned.required)


def _client(cohort: SimulatedCohort, u: int, *, required: SecAggParams):
    from blindsum.crypto.secagg.client import SecAggClient

    return SecAggClient(cohort.context, client_id=u, identity_key=cohort.identity_keys[u],
                        roster=cohort.roster, required=required)


def test_withheld_envelopes_expose_no_input_and_no_partial_sum() -> None:
    """The victim is handed only t envelopes; the one certified set must then leave its other
    neighbours out, and what is unmasked is the sum of all survivors and nothing smaller."""
    cohort = new_cohort(30, 32)
    inputs = _inputs(cohort)
    server = LyingServer(cohort)
    ctx = server.relay_adverts()
    victim, t = 1, ctx.params.threshold
    neighbours = sorted(ctx.graph[victim])
    held, left_out = set(neighbours[:t]), set(neighbours[t:])
    survivors = SurvivorSet(tuple(u for u in ctx.participants if u not in left_out), ())
    plan = Plan(held={u: ctx.graph[u] - left_out for u in survivors.survivors},
                views={u: survivors for u in survivors.survivors})
    plan.held[victim] = held
    seen = server.run(plan, inputs)
    assert len(seen.held[victim]) == t < ctx.params.neighbours
    assert _recovered(cohort, seen, inputs) == set()
    assert exposed_sums(cohort, seen) == [frozenset(survivors.survivors)]


def _ground(cohort: SimulatedCohort, victim: int, colluders: set[int]
            ) -> tuple[LyingServer, set[int]]:
    """A server that has seen every reveal and left out the max_unrevealed participants whose
    absence puts the most colluders next to the victim (best of 300 tries)."""
    params = cohort.context.params
    server = LyingServer(cohort)
    rng = np.random.default_rng(5)
    others = [u for u in cohort.context.participants if u != victim and u not in colluders]
    choices = [set(rng.choice(others, params.max_unrevealed, replace=False).tolist())
               for _ in range(300)]
    best = max(choices, key=lambda out: len(server.graph_if(out).graph[victim] & colluders))
    server.relay_adverts(best)
    return server, best


def test_a_ground_graph_gives_the_colluders_nothing() -> None:
    """With c colluders declared, the server grinds what it still controls (whose seed reveals
    to leave out, up to max_unrevealed of them) for the graph that puts the most colluders next
    to the victim, then runs the forking attack and an honest-looking round on it: t > c, so
    neither reconstructs the victim (privacy holds for every graph)."""
    cohort = new_cohort(30, 32, params=SecAggParams.derive(30, corruption_rate=0.1))
    c, victim = cohort.context.params.max_corrupted, 1
    colluders = set(range(2, 2 + c))
    inputs = _inputs(cohort)
    for forking in (False, True):
        server, left_out = _ground(cohort, victim, colluders)
        assert len(server.ctx.graph[victim] & colluders) == c  # every colluder adjacent
        everyone = [u for u in cohort.context.participants if u not in left_out]
        honest = SurvivorSet(tuple(everyone), ())
        plan = (forking_plan(server.ctx, victim) if forking
                else Plan(views={u: honest for u in everyone}))
        seen = server.run(dataclasses.replace(plan, colluders=colluders), inputs)
        assert victim not in _recovered(cohort, seen, inputs)
        honest_groups = [g - colluders for g in exposed_sums(cohort, seen)]
        assert all(len(g) >= len(everyone) - c for g in honest_groups if g)


def test_survivors_a_colluder_could_split_are_refused() -> None:
    """With one colluder tolerated, dropping all but one client of two opposite windows of
    k/2 ring positions would let that one (if it colluded) cut the honest survivors in two."""
    params = SecAggParams(num_clients=24, neighbours=4, threshold=3, min_survivors=3,
                          max_corrupted=1)
    cohort = new_cohort(24, 16, params=params)
    server = LyingServer(cohort)
    rel = _position(server.relay_adverts(), cohort.context.participants[0])
    dropped = {rel(0), rel(1), rel(12)}  # windows {0, 1} and {12, 13}: only rel(13) remains
    survivors = SurvivorSet(tuple(u for u in cohort.context.participants if u not in dropped),
                            ())
    seen = server.run(Plan(views={rel(5): survivors}), _inputs(cohort))
    assert "connected" in seen.refused[rel(5)]
    assert seen.unmask == []
