"""The command line, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindsum", *args], capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("args", [(), ("demo",), ("bench",), ("bench", "secagg"),
                                  ("bench", "ckks"), ("bench", "ingest"), ("bench", "dp"),
                                  ("bench", "load"),
                                  ("serve",), ("report",), ("privacy",), ("privacy", "epsilon"),
                                  ("privacy", "noise"), ("custodian",),
                                  ("custodian", "enroll"), ("custodian", "run")])
def test_every_command_has_help(args) -> None:
    result = _run(*args, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_version() -> None:
    from blindsum import __version__

    assert _run("--version").stdout.strip() == f"blindsum {__version__}"


def test_bench_secagg_json_without_peer() -> None:
    result = _run("bench", "secagg", "--clients", "8", "--dim", "1000", "--repeats", "1",
                  "--no-peer", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blindsum"]["exact"] is True
    assert report["blindsum"]["upload_over_float32"] == 1.0


@pytest.mark.slow
def test_privacy_epsilon_and_noise_give_the_reference_values() -> None:
    eps = _run("privacy", "epsilon", "--sample-rate", "0.01", "--noise-multiplier", "1.0",
               "--steps", "1000", "--delta", "1e-5", "--accountant", "rdp", "--json")
    assert eps.returncode == 0, eps.stderr
    assert json.loads(eps.stdout)["epsilon"] == pytest.approx(2.101, abs=1e-3)
    noise = _run("privacy", "noise", "--epsilon", "8", "--sample-rate", "0.01", "--steps",
                 "1000", "--json")
    assert json.loads(noise.stdout)["noise_multiplier"] == pytest.approx(0.586, abs=3e-3)


def test_privacy_refuses_gdp_with_a_clear_message() -> None:
    result = _run("privacy", "epsilon", "-q", "0.01", "-s", "1", "-t", "10", "--accountant", "gdp")
    assert result.returncode == 2 and "underestimates" in result.stderr


def test_report_downloads_json_and_html(tmp_path) -> None:
    from blindsum.benchmarks.local_server import LocalServer
    from blindsum.client_sdk import Admin

    token = "cli-admin-" + "q" * 32
    with LocalServer(tmp_path / "data", admin_token=token) as server, \
            Admin(server.base_url, token) as admin:
        fid = admin.create_federation("cli", "secagg", [("b", (4,))]).id
        env = {"BLINDSUM_TOKEN": token}
        for fmt in ("json", "html"):
            out = tmp_path / f"report.{fmt}"
            result = subprocess.run(
                [sys.executable, "-m", "blindsum", "report", "--url", server.base_url,
                 "--federation", fid, "--format", fmt, "-o", str(out)],
                capture_output=True, text=True, timeout=120, check=False,
                env={**os.environ, **env})
            assert result.returncode == 0, result.stderr
        assert json.loads((tmp_path / "report.json").read_text())["budget"]["epsilon"] == 8.0
        assert "<svg" in (tmp_path / "report.html").read_text()
        missing = subprocess.run(
            [sys.executable, "-m", "blindsum", "report", "--url", server.base_url,
             "--federation", fid, "-o", str(tmp_path / "x")], capture_output=True, text=True,
            timeout=120, check=False,
            env={k: v for k, v in os.environ.items() if k != "BLINDSUM_TOKEN"})
        assert missing.returncode == 2 and "BLINDSUM_TOKEN" in missing.stderr


@pytest.mark.slow
def test_privacy_guide_commands_print_what_the_guide_says() -> None:
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "privacy.md").read_text()
    commands = [line.split("#")[0].split() for line in guide.splitlines()
                if line.startswith("blindsum privacy")]
    assert len(commands) == 2
    printed = " ".join(_run(*cmd[1:]).stdout for cmd in commands)
    assert "epsilon = 1.8384" in printed and "noise multiplier = 0.587" in printed
    assert "1.8384" in guide and "0.587" in guide
