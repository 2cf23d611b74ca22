"""ruff and mypy --strict over the package, as part of the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import blindsum

ROOT = Path(blindsum.__file__).parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", str(ROOT)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean(tmp_path) -> None:
    """The repo root *is* the package, so mypy sees it through a ``blindsum`` symlink."""
    (tmp_path / "blindsum").symlink_to(ROOT, target_is_directory=True)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "blindsum"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
