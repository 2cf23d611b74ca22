"""``blindsum demo`` end to end on a small budget: real server, real model, real tweets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from peft import PeftModel

pytestmark = pytest.mark.slow  # the real demo, twice (about a minute)


def _demo(tmp_path, *args: str) -> dict:
    out = tmp_path / "summary.json"
    result = subprocess.run(
        [sys.executable, "-m", "blindsum", "demo", "--per-client", "48", "--local-steps", "1",
         "--out", str(tmp_path / "demo"), "--json", str(out), *args],
        capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy" in result.stdout and "epsilon" in result.stdout
    return dict(json.loads(out.read_text()))


def test_secagg_demo_recovers_a_dropped_site_and_writes_its_outputs(tmp_path) -> None:
    summary = _demo(tmp_path, "--clients", "4", "--rounds", "2")
    first, second = summary["rounds"]
    assert first["contributors"] == 4 and not first["dropped"]
    assert second["contributors"] == 3 and len(second["dropped"]) == 1  # recovered, not aborted
    assert all(0 <= r["accuracy"] <= 1 and r["uploaded_bytes"] > 0 for r in summary["rounds"])
    privacy = summary["privacy"]
    assert 0 < privacy["worst_case_epsilon"] <= 8 and privacy["mismatches"] == 0
    assert len(privacy["per_client_epsilon"]) == 4
    page = (tmp_path / "demo" / "privacy-report.html").read_text()
    assert "<svg" in page
    from blindsum.demo.model import make_base_model

    loaded = PeftModel.from_pretrained(make_base_model(), tmp_path / "demo" / "adapter")
    assert any(".lora_B." in n for n, _ in loaded.named_parameters())  # a standard PEFT adapter


def test_ckks_demo_runs_a_round(tmp_path) -> None:
    summary = _demo(tmp_path, "--mode", "ckks", "--clients", "3", "--rounds", "1", "--no-drop")
    assert summary["rounds"][0]["contributors"] == 3
    assert summary["rounds"][0]["uploaded_bytes"] > 32 * 100_000  # ~32 bytes per value


def test_demo_refuses_what_cannot_work_with_a_clear_message(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "blindsum", "demo", "--clients", "3",
                             "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 2
    assert "--no-drop" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--mode"])
def test_demo_rejects_an_unknown_mode(tmp_path, flag) -> None:
    result = subprocess.run([sys.executable, "-m", "blindsum", "demo", flag, "paillier",
                             "--out", str(tmp_path)], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 2 and "secagg or ckks" in result.stderr
