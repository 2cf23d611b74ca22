"""The CKKS benchmark runs all three schemes and reports what it claims (no timing asserts)."""

from __future__ import annotations

from blindsum.benchmarks.ckks import PEERS, CkksBenchConfig, run_ckks_bench


def test_ckks_bench_reports_every_scheme_with_ratios() -> None:
    report = run_ckks_bench(CkksBenchConfig(clients=3, dim=5000, precision_clients=5))
    for scheme in ("blindsum", "threshold", *PEERS):
        row = report[scheme]
        assert row["relative_error"] < 1e-6 and row["relative_error_many"] < 1e-6
        assert row["bytes_per_float"] > 0
    # blindsum's format is the raw ciphertext: 32 bytes per float plus last-chunk padding.
    assert report["blindsum"]["bytes_per_float"] < 2 * 32
    assert report["ratios"]["nvflare"]["bytes_per_float"] < 0.7
    threshold = report["threshold"]
    assert threshold["partial_decrypt_seconds"] > 0 and threshold["fuse_seconds"] > 0
    assert threshold["statistical_bits"] == 40 and threshold["relative_error_many"] < 1e-6
    assert set(report["threshold_ratios"]) == {"blindsum", *PEERS}
