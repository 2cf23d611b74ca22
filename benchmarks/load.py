"""``blindsum bench load``: many concurrent clients completing whole SecAgg+ rounds.

A real ``blindsum serve`` on loopback; N clients (threads, each with its own HTTP
connection) enroll through invites and run every stage of R rounds concurrently,
following the round by long-polling. Reports rounds per minute, per-stage
latency as clients see it (send, then wait for the stage to close; p50 and
p99), the server's peak RSS, and whether every sum was exact (the modular sum is exact; the
decoded float sum is within n x the fixed-point resolution of the true one). Bounded: each
stage wait has a timeout, so a stuck run ends by itself with an error.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.benchmarks.local_server import LocalServer
from blindsum.client_sdk import Admin, Client
from blindsum.client_sdk.secagg_driver import SecAggDriver
from blindsum.wire import RoundPublic, SecAggProtocol, announced

__all__ = ["LoadBenchConfig", "run_load_bench"]

Progress = Callable[[str], None]
STAGE_TIMEOUT = 600.0


@dataclass(frozen=True)
class LoadBenchConfig:
    clients: int = 50
    dim: int = 100_000
    rounds: int = 3
    database_url: str | None = None


def _quiet(_: str) -> None:
    pass


def _timed_round(client: Client, round_: RoundPublic, update: np.ndarray
                 ) -> list[tuple[str, float]]:
    driver = SecAggDriver(client.transport, client.state.federation_id, round_,
                          client_id=client.client_id, identity_key=client.identity_key,
                          roster=client.roster(), federation=client.federation())
    timings = []
    for stage, step in driver.steps(update):
        t0 = time.perf_counter()
        step()
        driver.wait_past(stage, timeout=STAGE_TIMEOUT)
        timings.append((stage.value, time.perf_counter() - t0))
    return timings


def _resolution(federation_id: str, round_: RoundPublic) -> float:
    from blindsum.crypto.secagg.context import RoundContext

    context = RoundContext.from_protocol(
        federation=federation_id, round_number=round_.number,
        round_seed=round_.round_seed, participants=round_.participants,
        protocol=announced(SecAggProtocol, round_.protocol).model_dump())
    return float(context.codec.resolution)


def run_load_bench(cfg: LoadBenchConfig, progress: Progress = _quiet) -> dict[str, Any]:
    token = "load-admin-" + "x" * 32
    latencies: dict[str, list[float]] = defaultdict(list)
    exact = 0
    with tempfile.TemporaryDirectory(prefix="blindsum-load-") as tmp, \
            LocalServer(Path(tmp) / "data", admin_token=token, database_url=cfg.database_url,
                        log_file=Path(tmp) / "server.log") as server, \
            Admin(server.base_url, token, timeout=STAGE_TIMEOUT) as admin, \
            ThreadPoolExecutor(cfg.clients) as pool:
        fed = admin.create_federation("load", "secagg", [("update", (cfg.dim,))],
                                      min_clients=3, max_clients=cfg.clients,
                                      stage_timeout_seconds=STAGE_TIMEOUT)
        progress(f"enrolling {cfg.clients} clients")
        clients = [Client.enroll(server.base_url, fed.id, admin.invite(fed.id),
                                 timeout=STAGE_TIMEOUT) for _ in range(cfg.clients)]
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        for number in range(1, cfg.rounds + 1):
            progress(f"round {number}/{cfg.rounds}: {cfg.clients} clients, all stages")
            updates = [rng.uniform(-1, 1, cfg.dim) * (0.5 / np.sqrt(cfg.dim)) for _ in clients]
            round_ = admin.open_round(fed.id)
            results = list(pool.map(_timed_round, clients, [round_] * len(clients),
                                    updates))
            for timings in results:
                for stage, seconds in timings:
                    latencies[stage].append(seconds)
            total = admin.result(fed.id, round_.id)
            resolution = _resolution(fed.id, round_)  # each client rounds to this grid
            error = np.max(np.abs(total - np.sum(updates, axis=0)))
            exact += bool(error <= cfg.clients * resolution)
        elapsed = time.perf_counter() - started
        peak = server.peak_rss_bytes()
        for c in clients:
            c.close()
    every = [s for values in latencies.values() for s in values]
    return {
        "config": asdict(cfg),
        "rounds_per_minute": cfg.rounds / (elapsed / 60),
        "seconds_per_round": elapsed / cfg.rounds,
        "stage_latency": {stage: {"p50": statistics.median(v),
                                  "p99": float(np.quantile(v, 0.99))}
                          for stage, v in latencies.items()},
        "all_stages": {"p50": statistics.median(every), "p99": float(np.quantile(every, 0.99))},
        "server_peak_rss_bytes": peak,
        "exact_rounds": exact,
    }
