"""The DP benchmark runs on a tiny model and reports every figure it promises."""

from __future__ import annotations

from blindsum.benchmarks.dp import DPBenchConfig, run_dp_bench


def test_dp_bench_reports_step_ratios_and_protect_fractions() -> None:
    cfg = DPBenchConfig(hidden=16, layers=1, seq_len=8, batch_size=8, steps=2, local_steps=2,
                        clients=3, modes=("hooks", "ghost"))
    report = run_dp_bench(cfg)
    assert report["plain_step_seconds"] > 0
    assert set(report["dp"]) == {"hooks", "ghost"}
    for row in report["dp"].values():
        assert row["step_seconds"] > 0 and row["over_plain"] > 0
    protect = report["protect"]
    assert protect["secagg_mask_seconds"] > 0 and protect["ckks_encrypt_seconds"] > 0
    assert protect["secagg_fraction_of_training"] > 0
    assert report["update_values"] == 2 * 16 * 8  # one layer: query and value lora_B (16x8)
