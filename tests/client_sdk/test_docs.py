"""The SDK guide's example, pasted as it is, runs against a real server."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blindsum.benchmarks.local_server import LocalServer

pytestmark = pytest.mark.slow  # runs the SDK guide's example end to end

DOC = Path(__file__).parents[2] / "docs" / "sdk.md"
TOKEN = "docs-admin-" + "z" * 32


def _run_block(tmp_path, block: str) -> dict[str, str]:
    script = tmp_path / "example.py"
    script.write_text(block)
    with LocalServer(tmp_path / "data", admin_token=TOKEN) as server:
        env = dict(os.environ, BLINDSUM_URL=server.base_url, BLINDSUM_ADMIN_TOKEN=TOKEN,
                   PYTHONWARNINGS="ignore")
        run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, timeout=300, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(line.split(":", 1) for line in run.stdout.strip().splitlines())


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_sdk_guide_example_runs(tmp_path) -> None:
    blocks = _blocks()
    assert len(blocks) == 2
    lines = _run_block(tmp_path, next(b for b in blocks if "DPLoRATrainer" in b))
    assert len(ast.literal_eval(lines["contributors"].strip())) == 3
    assert float(lines["max |mean - true mean|"]) < 1e-6


def test_the_threshold_custody_example_runs(tmp_path) -> None:
    lines = _run_block(tmp_path, next(b for b in _blocks() if "Custodian" in b))
    assert lines["custody"].strip() == "threshold"
    assert len(ast.literal_eval(lines["contributors"].strip())) == 4
    assert float(lines["max |sum - true sum|"]) < 1e-5
