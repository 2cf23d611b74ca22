"""``blindsum serve``: the real entry command, real uvicorn on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from .conftest import ADMIN_TOKEN, FEDERATION


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_api_then_stops_on_sigterm(tmp_path) -> None:
    port = _free_port()
    env = dict(os.environ, BLINDSUM_DATA_DIR=str(tmp_path), BLINDSUM_ADMIN_TOKEN=ADMIN_TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "blindsum", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
        created = httpx.post(f"{base}/v1/federations", json=FEDERATION,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        assert created.status_code == 201
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["info"]["title"] == "blindsum"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Finished server process" in output
    assert ADMIN_TOKEN not in output
