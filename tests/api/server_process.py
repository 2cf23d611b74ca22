"""The tests' face on :class:`blindsum.benchmarks.local_server.LocalServer`."""

from __future__ import annotations

from pathlib import Path

from blindsum.benchmarks.local_server import LocalServer, free_port

from .conftest import ADMIN_TOKEN

__all__ = ["ServerProcess", "free_port"]


class ServerProcess(LocalServer):
    def __init__(self, data_dir: Path, database_url: str, *, workers: int = 1) -> None:
        super().__init__(data_dir, admin_token=ADMIN_TOKEN, database_url=database_url,
                         workers=workers)
