"""``blindsum serve`` as a real process on loopback: for benchmarks, the demo and tests.

It can be SIGKILLed and restarted on the same port and data, and reports the
server's peak resident memory (VmHWM, over the whole process group).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["LocalServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """One server on a fixed port and data directory."""

    def __init__(self, data_dir: Path, *, admin_token: str, database_url: str | None = None,
                 workers: int = 1, log_file: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, BLINDSUM_DATA_DIR=str(data_dir),
                        BLINDSUM_ADMIN_TOKEN=admin_token, **(env or {}))
        if database_url:
            self.env["BLINDSUM_DATABASE_URL"] = database_url
        self.workers = workers
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 90.0) -> None:
        args = [sys.executable, "-m", "blindsum", "serve", "--port", str(self.port),
                "--workers", str(self.workers)]
        if self.log_file is None:
            self.proc = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
                args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        else:
            with open(self.log_file, "ab") as log:  # the child keeps its own descriptor
                self.proc = subprocess.Popen(  # noqa: S603
                    args, env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}"
                                   + (f"; see {self.log_file}" if self.log_file else ""))
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not become ready in time")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler runs."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def peak_rss_bytes(self) -> int:
        """The largest VmHWM of the server's processes (workers included)."""
        assert self.proc is not None
        peak = 0
        for pid in _group_pids(self.proc.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids
