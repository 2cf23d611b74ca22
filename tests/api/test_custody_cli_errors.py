"""Adversarial review 3: ``blindsum custodian run`` with a state file that is missing, or is
not JSON, ends in a Python traceback (FileNotFoundError, JSONDecodeError) instead of a
one-line ``blindsum: ...`` error and exit code 2, as a state file of the wrong version
already gets. And ``blindsum demo --help`` / its missing-extras hints print
``pip install -e '.'``: rich's markup eats ``[demo]`` and ``[ckks]``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blindsum", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("content", [None, "not json"])
def test_custodian_run_with_a_bad_state_file_says_so_in_one_line(tmp_path, content) -> None:
    state = tmp_path / "custodian.json"
    if content is not None:
        state.write_text(content)
        state.chmod(0o600)
    result = _run("custodian", "run", "--state", str(state))
    assert result.returncode == 2, result.stderr[-300:]
    assert "Traceback" not in result.stderr, result.stderr[-300:]
    assert str(state) in result.stderr


def test_demo_help_names_the_extras_to_install() -> None:
    result = _run("demo", "--help")
    assert "[demo]" in result.stdout, result.stdout
