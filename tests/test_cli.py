"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindsum", *args], capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("args", [(), ("demo",), ("bench",), ("bench", "secagg"),
                                  ("bench", "ckks")])
def test_every_command_has_help(args) -> None:
    result = _run(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_version() -> None:
    from blindsum import __version__

    assert _run("--version").stdout.strip() == f"blindsum {__version__}"


def test_demo_runs_a_round_and_writes_json(tmp_path) -> None:
    out = tmp_path / "demo.json"
    result = _run("demo", "--clients", "6", "--dim", "500", "--drop", "1", "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert summary["exact"] is True
    assert summary["dropped"] == [6] and summary["contributors"] == [1, 2, 3, 4, 5]


def test_demo_bad_input_is_a_clear_error_not_a_traceback() -> None:
    result = _run("demo", "--clients", "4", "--drop", "3")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "fewer than 3" in result.stderr


def test_bench_secagg_json_without_peer() -> None:
    result = _run("bench", "secagg", "--clients", "8", "--dim", "1000", "--repeats", "1",
                  "--no-peer", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blindsum"]["exact"] is True
    assert report["blindsum"]["upload_over_float32"] == 1.0
