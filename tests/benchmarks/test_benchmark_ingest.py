"""The ingest benchmark runs end to end on a tiny cohort and reports what it promises."""

from __future__ import annotations

import pytest

from blindsum.benchmarks.ingest import IngestBenchConfig, run_ingest_bench

pytestmark = pytest.mark.slow  # uploads through real uvicorn


def test_ingest_bench_reports_throughput_memory_and_exactness() -> None:
    steps: list[str] = []
    report = run_ingest_bench(IngestBenchConfig(clients=5, small_clients=3, dim=2000,
                                                concurrency=2), progress=steps.append)
    for side in ("small", "large"):
        run = report[side]
        assert run["exact"] is True
        assert run["upload_bytes"] == 2000 * 4
        assert run["upload_mb_per_s"] > 0 and run["uploads_per_s"] > 0
        assert run["peak_rss_bytes"] >= run["idle_rss_bytes"] > 0
    assert report["large"]["clients"] == 5 and report["small"]["clients"] == 3
    assert set(report["memory"]) == {"vector_bytes", "growth_large_minus_small_bytes",
                                     "growth_per_extra_client_bytes", "growth_over_vector",
                                     "growth_difference_under_two_vectors"}
    assert any("uploading" in s for s in steps)


def test_equal_cohorts_are_refused_with_a_message_not_a_traceback() -> None:
    from blindsum.errors import ConfigError

    with pytest.raises(ConfigError, match="small-clients"):
        IngestBenchConfig(clients=20, small_clients=20)
