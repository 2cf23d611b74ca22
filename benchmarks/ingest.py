"""``blindsum bench ingest``: masked uploads through real uvicorn on loopback.

For each cohort size it starts a fresh ``blindsum serve``, enrolls the clients
through invites, runs the SecAgg+ stages up to the masked input, then uploads
every client's masked vector concurrently and times it (the clients masked
beforehand, so their CPU does not count against the server). The round is
then finished and its sum checked. The server's peak RSS (VmHWM) for a small
and a large cohort shows whether its memory grows with the number of clients.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blindsum.benchmarks.local_server import LocalServer
from blindsum.client_sdk.admin import Admin
from blindsum.client_sdk.enrollment import enroll_with_invite
from blindsum.client_sdk.secagg_driver import SecAggDriver
from blindsum.client_sdk.transport import Transport
from blindsum.crypto import base64url
from blindsum.crypto.identity import generate_identity_key
from blindsum.crypto.secagg.stages import Stage
from blindsum.errors import ConfigError

__all__ = ["IngestBenchConfig", "run_ingest_bench"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class IngestBenchConfig:
    clients: int = 200
    small_clients: int = 20
    dim: int = 1_000_000
    concurrency: int = 4
    database_url: str | None = None  # SQLite in a temporary data dir by default

    def __post_init__(self) -> None:
        if not 3 <= self.small_clients < self.clients:
            raise ConfigError("the benchmark compares two cohorts: need 3 <= --small-clients "
                              f"< --clients (got {self.small_clients} and {self.clients})")


def _quiet(_: str) -> None:
    pass


def _update(index: int, dim: int) -> np.ndarray:
    """Client ``index``'s update: deterministic, with L2 norm below the clip norm of 1."""
    rng = np.random.default_rng(index)
    return np.asarray(rng.uniform(-1.0, 1.0, dim) * (0.5 / np.sqrt(dim)), dtype=np.float64)


def _parallel(pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    return list(pool.map(fn, items))


def _cohort(admin: Admin, server: LocalServer, n: int, dim: int,
            pool: ThreadPoolExecutor) -> tuple[str, list[SecAggDriver]]:
    fed = admin.create_federation("bench", "secagg", [("update", (dim,))], min_clients=3,
                                  max_clients=n, stage_timeout_seconds=3600)
    fid = fed.id
    members = []
    for i in range(n):
        key = generate_identity_key()
        transport = Transport(server.base_url, timeout=300)
        client_id, token = enroll_with_invite(transport, fid, admin.invite(fid, f"c{i}"), key)
        transport.token = token
        members.append((transport, client_id, key))
    round_json = admin.open_round(fid)
    roster_json = members[0][0].get(f"/v1/federations/{fid}/roster").json()
    roster = {c["client_id"]: base64url.decode(c["identity_key"], size=32) for c in roster_json}
    drivers = [SecAggDriver(t, fid, round_json, client_id=cid, identity_key=key, roster=roster,
                            federation=fed)
               for t, cid, key in members]
    _parallel(pool, lambda d: d.commit(), drivers)
    _parallel(pool, lambda d: d.advertise(), drivers)
    _parallel(pool, lambda d: d.share(), drivers)
    _parallel(pool, lambda d: d.check(), drivers)
    return fid, drivers




def _one_cohort(n: int, cfg: IngestBenchConfig, progress: Progress) -> dict[str, Any]:
    token = "bench-admin-" + "x" * 32
    with tempfile.TemporaryDirectory(prefix="blindsum-bench-") as tmp, \
            ThreadPoolExecutor(cfg.concurrency) as pool:
        server = LocalServer(Path(tmp) / "data", admin_token=token,
                             database_url=cfg.database_url, log_file=Path(tmp) / "server.log")
        server.start()
        try:
            idle_rss = server.peak_rss_bytes()
            admin = Admin(server.base_url, token, timeout=600)
            progress(f"n={n}: enrolling and exchanging keys")
            fid, drivers = _cohort(admin, server, n, cfg.dim, pool)
            progress(f"n={n}: clients masking their updates")
            expected = np.zeros(cfg.dim)
            blobs = []
            for i, driver in enumerate(drivers):
                update = _update(i, cfg.dim)
                expected += update
                blobs.append(driver.masked_bytes(update))
            progress(f"n={n}: uploading {n} masked inputs of {len(blobs[0]) / 1e6:.1f} MB")
            done: list[float] = []
            latencies: list[float] = []

            def upload(pair: tuple[SecAggDriver, bytes]) -> None:
                t0 = time.perf_counter()
                pair[0].upload(pair[1])
                t1 = time.perf_counter()
                latencies.append(t1 - t0)
                done.append(t1)

            start = time.perf_counter()
            _parallel(pool, upload, list(zip(drivers, blobs, strict=True)))
            wall = time.perf_counter() - start
            done.sort()
            ingest = done[-2] - start  # before the last upload, which also closes the stage
            nbytes = len(blobs[0])
            blobs.clear()
            progress(f"n={n}: consistency check and unmasking")
            _parallel(pool, lambda d: d.sign(), drivers)
            _parallel(pool, lambda d: d.unmask(), drivers)
            final = admin.round(fid, drivers[0].round.id, after=Stage.UNMASK.value, wait=60)
            total = admin.result(fid, final.id)
            resolution = drivers[0].context.codec.resolution
            peak_rss = server.peak_rss_bytes()
            for d in drivers:
                d.transport.close()
            admin.close()
        finally:
            server.stop()
    return {
        "clients": n, "upload_bytes": nbytes,
        "upload_mb_per_s": (n - 1) * nbytes / ingest / 1e6,
        "uploads_per_s": (n - 1) / ingest,
        "wall_mb_per_s_incl_close": n * nbytes / wall / 1e6,
        "upload_p50_s": statistics.median(latencies),
        "upload_p99_s": float(np.quantile(latencies, 0.99)),
        "last_upload_and_close_s": done[-1] - done[-2],
        "idle_rss_bytes": idle_rss, "peak_rss_bytes": peak_rss,
        "rss_growth_bytes": peak_rss - idle_rss,
        "exact": bool(final.stage == Stage.CLOSED.value
                      and np.max(np.abs(total - expected)) <= n * resolution),
    }


def run_ingest_bench(cfg: IngestBenchConfig, progress: Progress = _quiet) -> dict[str, Any]:
    """Both cohort sizes, each on a fresh server; the RSS comparison in ``memory``."""
    small = _one_cohort(cfg.small_clients, cfg, progress)
    large = _one_cohort(cfg.clients, cfg, progress)
    vector = large["upload_bytes"]
    extra = large["rss_growth_bytes"] - small["rss_growth_bytes"]
    return {
        "config": asdict(cfg), "small": small, "large": large,
        "memory": {
            "vector_bytes": vector,
            "growth_large_minus_small_bytes": extra,
            "growth_per_extra_client_bytes": extra / (cfg.clients - cfg.small_clients),
            "growth_over_vector": large["rss_growth_bytes"] / vector,
            "growth_difference_under_two_vectors": extra < 2 * vector,
        },
    }
