"""The in-process SecAgg+ demonstration behind ``blindsum demo`` (until the full demo exists)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table


def run_inprocess_demo(*, clients: int, dim: int, drop: int, console: Console) -> dict[str, Any]:
    """Run one round with ``drop`` clients vanishing before their masked input."""
    import numpy as np

    from blindsum.crypto.secagg.params import MIN_COHORT
    from blindsum.crypto.secagg.simulate import new_cohort, simulate_round
    from blindsum.crypto.secagg.stages import Stage
    from blindsum.errors import ConfigError

    if drop > clients - MIN_COHORT:
        raise ConfigError(f"--drop {drop} leaves fewer than {MIN_COHORT} of {clients} clients")
    cohort = new_cohort(clients, dim, dropout_rate=max(drop / clients, 0.01))
    params = cohort.context.params
    rng = np.random.default_rng()
    updates = {u: rng.normal(0, 0.3 / np.sqrt(dim), dim) for u in cohort.context.participants}
    dropped = list(cohort.context.participants[-drop:]) if drop else []
    start = time.perf_counter()
    sim = simulate_round(cohort, updates, drops={Stage.MASKED_INPUT: dropped})
    elapsed = time.perf_counter() - start
    if sim.result is None:
        console.print(f"[red]round aborted:[/] {sim.abort_reason}")
        return {"exact": False, "abort_reason": sim.abort_reason}
    contributors = sim.result.contributors
    decoded = cohort.context.codec.dequantize_sum(sim.result.total, len(contributors))
    plain = np.sum([updates[u] for u in contributors], axis=0)
    error = float(np.max(np.abs(decoded - plain)))
    bound = len(contributors) * cohort.context.codec.resolution
    summary = {
        "clients": clients, "dim": dim, "dropped": dropped, "contributors": list(contributors),
        "neighbours": params.neighbours, "threshold": params.threshold,
        "seconds": elapsed, "max_abs_error": error, "error_bound": bound,
        "exact": error <= bound, "upload_bytes_per_client": 4 * dim,
    }
    table = Table(title="one SecAgg+ round")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, str(value) if not isinstance(value, float) else f"{value:.3g}")
    console.print(table)
    verdict = "[green]the server learned the sum and nothing else[/]" if summary["exact"] \
        else "[red]the sum is wrong[/]"
    console.print(f"{verdict}: error {error:.2e} within the quantization bound {bound:.2e}")
    return summary
