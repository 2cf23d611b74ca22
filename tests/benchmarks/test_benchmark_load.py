"""The load benchmark completes whole rounds with concurrent clients and reports its figures."""

from __future__ import annotations

import pytest

from blindsum.aggregator import rounds
from blindsum.benchmarks.load import LoadBenchConfig, run_load_bench

pytestmark = pytest.mark.slow  # whole rounds through real uvicorn


def test_load_bench_runs_rounds_and_reports_latency_and_memory() -> None:
    steps: list[str] = []
    report = run_load_bench(LoadBenchConfig(clients=5, dim=500, rounds=2), progress=steps.append)
    assert report["exact_rounds"] == 2
    assert report["rounds_per_minute"] > 0 and report["server_peak_rss_bytes"] > 0
    assert tuple(report["stage_latency"]) == rounds.STAGES["secagg"]
    for row in [*report["stage_latency"].values(), report["all_stages"]]:
        assert 0 < row["p50"] <= row["p99"]
    assert any("round 2/2" in s for s in steps)
