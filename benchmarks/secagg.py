"""SecAgg+ benchmark: blindsum against Flower's own SecAgg+ on the same round.

Both sides get the same n, d, inputs, neighbourhood size k, threshold t and the
same set of clients dropping after key sharing (before their masked input).
Reported per side, as medians over ``repeats`` rounds:

* client time: encode (clip + stochastic rounding) plus all masks, per client;
* server unmask: Shamir reconstruction + mask regeneration + removal;
* upload bytes of one masked input, over the raw float32 update (4d bytes), and
  (blindsum) the JSON protocol messages per client and the client's time over
  every stage (key generation, Feldman commitments and checks included);
* max abs error of the decoded sum against the plain float64 sum;
* exactness: the unmasked integer sum equals the sum of the encoded inputs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from blindsum.crypto.randomness import Csprng
from blindsum.crypto.secagg.simulate import SimulationResult, new_cohort, simulate_round
from blindsum.crypto.secagg.stages import MESSAGE_STAGES, Stage

__all__ = ["SecAggBenchConfig", "SideReport", "run_secagg_bench"]


@dataclass(frozen=True)
class SecAggBenchConfig:
    """One benchmark setting."""

    clients: int = 50
    dim: int = 1_000_000
    dropout: float = 0.1
    repeats: int = 3
    peer: bool = True
    seed: int = 0


@dataclass
class SideReport:
    """Medians over the repeats for one implementation."""

    name: str
    client_seconds: float
    server_unmask_seconds: float
    server_sum_seconds: float
    upload_bytes: int
    upload_over_float32: float
    max_abs_error: float
    exact: bool | None
    rounds: int
    notes: dict[str, str | int | float] = field(default_factory=dict)


def _dropped_ids(cfg: SecAggBenchConfig) -> list[int]:
    """The same dropouts for both sides: round(dropout * n) clients, fixed by the seed."""
    count = round(cfg.dropout * cfg.clients)
    rng = np.random.default_rng(cfg.seed)
    return sorted(int(i) for i in rng.choice(cfg.clients, size=count, replace=False))


def _inputs(cfg: SecAggBenchConfig) -> np.ndarray:
    """Updates in [-0.5, 0.5]/sqrt(d): norms below the clip norm 1, so nothing is clipped."""
    rng = np.random.default_rng(cfg.seed + 1)
    scale = 1.0 / np.sqrt(cfg.dim)
    updates: np.ndarray = rng.uniform(-0.5, 0.5, size=(cfg.clients, cfg.dim)) * scale
    return updates.astype(np.float32)


def _blindsum_round(
    cfg: SecAggBenchConfig, inputs: np.ndarray, dropped: list[int]
) -> dict[str, Any]:
    cohort = new_cohort(cfg.clients, cfg.dim, dropout_rate=max(cfg.dropout, 0.01))
    codec = cohort.context.codec
    rng = Csprng()
    encoded, encode_s = {}, {}
    for i, u in enumerate(cohort.context.participants):
        start = time.perf_counter()
        encoded[u] = codec.quantize(inputs[i], rng)
        encode_s[u] = time.perf_counter() - start
    drops = {Stage.MASKED_INPUT: [i + 1 for i in dropped]}
    sim: SimulationResult = simulate_round(cohort, encoded, drops=drops)
    if sim.result is None:
        raise RuntimeError(f"blindsum round aborted: {sim.abort_reason}")
    contributors = sim.result.contributors
    expected_words = np.zeros(cfg.dim, dtype=codec.dtype)
    for u in contributors:
        np.add(expected_words, encoded[u], out=expected_words)
    plain = inputs[[u - 1 for u in contributors]].astype(np.float64).sum(axis=0)
    decoded = codec.dequantize_sum(sim.result.total, len(contributors))
    return {
        "client": statistics.median(encode_s[u] + sim.client_check_seconds[u]
                                    + sim.client_mask_seconds[u] for u in contributors),
        "client_all_stages": statistics.median(encode_s[u] + sim.client_total_seconds[u]
                                               for u in contributors),
        "metadata_bytes": statistics.median(sim.message_bytes[u] for u in contributors),
        "relay_bytes": statistics.median(sim.relay_bytes[u] for u in contributors),
        "unmask": sim.server_unmask_seconds,
        "sum": sim.server_sum_seconds,
        "upload": sim.upload_bytes[contributors[0]],
        "error": float(np.max(np.abs(decoded - plain))),
        "exact": bool(np.array_equal(sim.result.total, expected_words)),
        "k": cohort.context.params.neighbours,
        "t": cohort.context.params.threshold,
    }


def _flower_round(cfg: SecAggBenchConfig, inputs: np.ndarray, dropped: list[int],
                  k: int, t: int) -> dict[str, Any]:
    from blindsum.benchmarks.flower_peer import run_flower_secaggplus

    run = run_flower_secaggplus(
        n_clients=cfg.clients, dim=cfg.dim, dropped=dropped, num_neighbours=k, threshold=t,
        inputs=inputs, seed=cfg.seed,
    )
    return {
        "client": statistics.median(run.client_times_s),
        "unmask": run.server_unmask_s,
        "sum": run.server_sum_s,
        "upload": run.upload_bytes_per_client,
        "error": run.max_abs_error,
        "exact": None,
    }


def _summarise(name: str, runs: list[dict[str, Any]], dim: int) -> SideReport:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    exact = None if runs[0]["exact"] is None else all(r["exact"] for r in runs)
    upload = int(med("upload"))
    notes: dict[str, str | int | float] = {}
    if "metadata_bytes" in runs[0]:
        notes = {"client_seconds_all_stages": med("client_all_stages"),
                 "protocol_json_bytes_per_client": int(med("metadata_bytes")),
                 "relayed_json_bytes_per_client": int(med("relay_bytes")),
                 "round_trips": len(MESSAGE_STAGES)}
    return SideReport(
        name=name, client_seconds=med("client"), server_unmask_seconds=med("unmask"),
        server_sum_seconds=med("sum"), upload_bytes=upload,
        upload_over_float32=upload / (4 * dim), max_abs_error=max(r["error"] for r in runs),
        exact=exact, rounds=len(runs), notes=notes,
    )


def run_secagg_bench(
    cfg: SecAggBenchConfig, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run both sides ``cfg.repeats`` times; return a JSON-ready report with ratios."""
    say = progress or (lambda _msg: None)
    inputs, dropped = _inputs(cfg), _dropped_ids(cfg)
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for r in range(cfg.repeats):
        say(f"round {r + 1}/{cfg.repeats}: blindsum")
        ours.append(_blindsum_round(cfg, inputs, dropped))
        if cfg.peer:
            say(f"round {r + 1}/{cfg.repeats}: flower (k={ours[0]['k']}, t={ours[0]['t']})")
            theirs.append(_flower_round(cfg, inputs, dropped, ours[0]["k"], ours[0]["t"]))
    report: dict[str, Any] = {
        "config": asdict(cfg) | {"dropped": len(dropped), "neighbours": ours[0]["k"],
                                 "threshold": ours[0]["t"]},
        "blindsum": asdict(_summarise("blindsum", ours, cfg.dim)),
    }
    if theirs:
        peer = _summarise("flower", theirs, cfg.dim)
        report["flower"] = asdict(peer)
        b = report["blindsum"]
        report["ratios"] = {
            "client_time": b["client_seconds"] / peer.client_seconds,
            "server_unmask_time": b["server_unmask_seconds"] / peer.server_unmask_seconds,
            "upload_bytes": b["upload_bytes"] / peer.upload_bytes,
        }
    return report
