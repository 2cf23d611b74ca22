"""Full SecAgg+ rounds: exact sums under dropouts at every stage, clean aborts below threshold."""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.crypto.hazmat.prg import PrgAlgorithm
from blindsum.crypto.secagg import SecAggParams
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.simulate import new_cohort, simulate_round
from blindsum.crypto.secagg.stages import Stage

STAGES = [Stage.COMMIT_SEED, Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
          Stage.CONSISTENCY_CHECK, Stage.UNMASK]


def test_no_dropout_gives_exact_sum(cohort, encoded_inputs, modular_sum) -> None:
    inputs = encoded_inputs(cohort)
    sim = simulate_round(cohort, inputs)
    assert sim.abort_reason is None and not sim.refused
    assert sim.result.contributors == cohort.context.participants
    expected = modular_sum(inputs, cohort.context.participants)
    np.testing.assert_array_equal(sim.result.total, expected)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.value)
@pytest.mark.parametrize("fixture", ["cohort", "sparse_cohort"])
def test_dropouts_at_each_stage_up_to_threshold(stage, fixture, request, encoded_inputs,
                                                 modular_sum) -> None:
    c = request.getfixturevalue(fixture)
    params = c.context.params
    inputs = encoded_inputs(c, seed=3)
    # Drop the most clients the round can lose at this stage and still finish: before the
    # graph is drawn, as many as the reveals allow; after, while each client keeps at least
    # t live neighbours and the survivors stay connected.
    dropped: list[int] = []

    def dropping(ctx: RoundContext) -> list[int]:
        dropped.extend(_max_safe_drops(ctx, stage))
        return dropped

    sim = simulate_round(c, inputs, drops={stage: dropping})
    assert dropped, "the scenario must drop somebody"
    assert sim.abort_reason is None, sim.abort_reason
    contributors = sim.result.contributors
    before_input = stage in (Stage.COMMIT_SEED, Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS,
                             Stage.MASKED_INPUT)
    expected_ids = tuple(u for u in c.context.participants if u not in dropped or not before_input)
    assert contributors == expected_ids
    assert len(contributors) >= params.min_survivors
    np.testing.assert_array_equal(sim.result.total, modular_sum(inputs, contributors))


def _max_safe_drops(ctx: RoundContext, stage: Stage) -> list[int]:
    """Greedily drop clients while every remaining client keeps >= t live neighbours."""
    params = ctx.params
    spare = len(ctx.participants) - params.min_survivors
    if stage is Stage.COMMIT_SEED:
        return list(ctx.participants[-spare:])
    if stage is Stage.ADVERTISE_KEYS:
        return list(ctx.participants[-min(spare, params.max_unrevealed):])
    graph, t = ctx.graph, params.threshold
    alive = set(ctx.graph_members)
    dropped: list[int] = []
    for u in sorted(alive, reverse=True):
        trial = alive - {u}
        if len(trial) < params.min_survivors:
            break
        if all(len(graph[v] & trial) >= t for v in trial):
            alive = trial
            dropped.append(u)
        if stage is Stage.UNMASK and len(dropped) >= 2:
            break
    return dropped


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.value)
def test_too_many_dropouts_abort_with_a_reason(stage, cohort, encoded_inputs) -> None:
    n, t = cohort.context.params.num_clients, cohort.context.params.threshold
    dropped = list(cohort.context.participants[: n - t + 1])
    sim = simulate_round(cohort, encoded_inputs(cohort), drops={stage: dropped})
    assert sim.result is None
    assert sim.abort_reason is not None and sim.abort_reason.startswith("ThresholdNotMetError")


def test_float_updates_decode_within_the_quantization_bound() -> None:
    c = new_cohort(8, 500, clip_norm=2.0)
    rng = np.random.default_rng(7)
    updates = {u: rng.normal(0, 0.05, 500) for u in c.context.participants}
    sim = simulate_round(c, updates, drops={Stage.MASKED_INPUT: [8]})
    decoded = c.context.codec.dequantize_sum(sim.result.total, 7)
    plain = np.sum([updates[u] for u in sim.result.contributors], axis=0)
    assert np.max(np.abs(decoded - plain)) <= 7 * c.context.codec.resolution


def test_clipping_is_applied_before_masking() -> None:
    c = new_cohort(5, 4, clip_norm=1.0)
    updates = {u: np.array([3.0, 4.0, 0.0, 0.0]) for u in c.context.participants}  # norm 5
    sim = simulate_round(c, updates)
    decoded = c.context.codec.dequantize_sum(sim.result.total, 5)
    np.testing.assert_allclose(decoded, 5 * np.array([0.6, 0.8, 0.0, 0.0]), atol=1e-6)


@pytest.mark.parametrize("prg", list(PrgAlgorithm))
@pytest.mark.parametrize("bits", [32, 64])
def test_ring_and_prg_options(prg, bits, encoded_inputs, modular_sum) -> None:
    params = SecAggParams(num_clients=6, neighbours=4, threshold=3, min_survivors=3,
                          bits=bits, prg=prg)
    c = new_cohort(6, 33, params=params)
    inputs = encoded_inputs(c, seed=bits)
    sim = simulate_round(c, inputs, drops={Stage.MASKED_INPUT: [2]})
    assert sim.result.total.dtype == np.dtype(f"uint{bits}")
    np.testing.assert_array_equal(sim.result.total, modular_sum(inputs, sim.result.contributors))


def test_upload_is_exactly_one_word_per_coordinate(cohort) -> None:
    updates = {u: np.zeros(257) for u in cohort.context.participants}
    sim = simulate_round(cohort, updates)
    assert set(sim.upload_bytes.values()) == {4 * 257}  # = the raw float32 size


def test_server_masked_total_is_not_the_plain_sum(stepwise_round, modular_sum) -> None:
    """Before unmasking, the server's running sum is hidden by the self-masks."""
    r = stepwise_round(n=10, dim=257)
    r.mask()
    plain = modular_sum(r.inputs, r.ctx.participants)
    assert np.mean(r.server._total == plain) < 0.01
