"""The benchmark's two sides compute what they claim, on a small round (no timing asserts)."""

from __future__ import annotations

import numpy as np

from blindsum.benchmarks.flower_peer import flower_available, run_flower_secaggplus
from blindsum.benchmarks.secagg import SecAggBenchConfig, run_secagg_bench


def test_flower_peer_computes_the_sum_of_survivors() -> None:
    assert flower_available()  # flwr is a test dependency: the peer must really run
    run = run_flower_secaggplus(n_clients=9, dim=300, dropped=[2, 5], num_neighbours=4,
                                threshold=3, seed=4)
    assert run.dropped == (2, 5) and len(run.client_times_s) == 7
    step = 2 * 1.0 / 2**22  # Flower's quantization step for clip 1.0
    assert run.max_abs_error <= 7 * step
    np.testing.assert_allclose(run.result, run.expected, atol=7 * step)
    # Flower ships int64 words plus npy framing: about twice the float32 size.
    assert run.upload_bytes_per_client > 2 * 4 * 300


def test_side_by_side_report_has_ratios_and_exact_blindsum() -> None:
    report = run_secagg_bench(SecAggBenchConfig(clients=10, dim=2000, dropout=0.2, repeats=1))
    assert report["blindsum"]["exact"] is True
    assert report["blindsum"]["upload_over_float32"] == 1.0
    assert report["config"]["dropped"] == 2
    assert set(report["ratios"]) == {"client_time", "server_unmask_time", "upload_bytes"}
    assert report["ratios"]["upload_bytes"] < 0.51
    assert report["flower"]["max_abs_error"] < 1e-4
