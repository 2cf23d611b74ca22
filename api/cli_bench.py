"""``blindsum bench ...``: reproducible benchmarks, side by side with peers.

Each command imports its benchmark lazily and prints a rich table (or JSON).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from blindsum.api.cli_support import console, module_installed, out

bench_app = typer.Typer(help="Reproducible benchmarks, side by side with peers.",
                        no_args_is_help=True)

@bench_app.command("secagg")
def bench_secagg(
    clients: Annotated[int, typer.Option(min=3, help="Clients per round (n).")] = 50,
    dim: Annotated[int, typer.Option(min=1, help="Update length (d).")] = 1_000_000,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9,
                                           help="Fraction dropping before masked input.")] = 0.1,
    repeats: Annotated[int, typer.Option(min=1, help="Rounds per side; medians reported.")] = 3,
    peer: Annotated[bool, typer.Option(
        "--peer/--no-peer", help="Also run Flower's SecAgg+ (needs blindsum[bench]).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time a SecAgg+ round: client masking, server unmasking, upload size, exactness."""
    from blindsum.benchmarks.secagg import SecAggBenchConfig, run_secagg_bench

    if peer and not _flower_installed():
        console.print("[red]Flower is not installed.[/] Install it with "
                      "[bold]pip install -e '.\\[bench]'[/] or pass --no-peer.")
        raise typer.Exit(code=2)
    cfg = SecAggBenchConfig(clients=clients, dim=dim, dropout=dropout, repeats=repeats, peer=peer)
    with console.status("benchmarking...") as status:
        report = run_secagg_bench(cfg, progress=status.update)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        out.print(_bench_table(report))


@bench_app.command("ckks")
def bench_ckks(
    clients: Annotated[int, typer.Option(min=3, help="Clients per round.")] = 10,
    dim: Annotated[int, typer.Option(min=1, help="Update length (d).")] = 1_000_000,
    precision_clients: Annotated[int, typer.Option(
        min=3, help="Clients in the precision run (one ciphertext each).")] = 1000,
    peers: Annotated[bool, typer.Option(
        "--peers/--no-peers", help="Also run TenSEAL's tutorial and NVFlare's parameters.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time CKKS mode: encryption, bytes per float, server add, decryption, precision."""
    if not module_installed("tenseal"):
        console.print("[red]TenSEAL is not installed.[/] Install it with "
                      "[bold]pip install -e '.\\[ckks]'[/].")
        raise typer.Exit(code=2)
    from blindsum.benchmarks.ckks import CkksBenchConfig, run_ckks_bench

    cfg = CkksBenchConfig(clients=clients, dim=dim, precision_clients=precision_clients,
                          peers=peers)
    with console.status("benchmarking...") as status:
        report = run_ckks_bench(cfg, progress=status.update)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        out.print(_ckks_table(report))


@bench_app.command("ingest")
def bench_ingest(
    clients: Annotated[int, typer.Option(min=3, help="Clients in the large cohort.")] = 200,
    small_clients: Annotated[int, typer.Option(
        min=3, help="Clients in the small cohort (the memory baseline).")] = 20,
    dim: Annotated[int, typer.Option(min=1, help="Update length (d).")] = 1_000_000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent uploads.")] = 4,
    database_url: Annotated[str | None, typer.Option(
        help="Database for the server [default: SQLite in a temporary directory].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Masked-upload throughput and server peak memory through real uvicorn on loopback."""
    from blindsum.benchmarks.ingest import IngestBenchConfig, run_ingest_bench

    cfg = IngestBenchConfig(clients=clients, small_clients=small_clients, dim=dim,
                            concurrency=concurrency, database_url=database_url)
    with console.status("benchmarking...") as status:
        report = run_ingest_bench(cfg, progress=status.update)
    if as_json:
        out.print_json(json.dumps(report))
    else:
        out.print(_ingest_table(report))


@bench_app.command("load")
def bench_load(
    clients: Annotated[int, typer.Option(min=3, max=1000, help="Concurrent clients.")] = 50,
    dim: Annotated[int, typer.Option(min=1, help="Update length (d).")] = 100_000,
    rounds: Annotated[int, typer.Option(min=1, help="Whole rounds to run.")] = 3,
    database_url: Annotated[str | None, typer.Option(
        help="Database for the server [default: SQLite in a temporary directory].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Concurrent clients completing whole SecAgg+ rounds: rounds/minute, stage latency, RSS."""
    from blindsum.benchmarks.load import LoadBenchConfig, run_load_bench

    cfg = LoadBenchConfig(clients=clients, dim=dim, rounds=rounds, database_url=database_url)
    with console.status("benchmarking...") as status:
        report = run_load_bench(cfg, progress=status.update)
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title=f"{clients} concurrent clients, d={dim}, {rounds} rounds: "
                        f"{report['rounds_per_minute']:.2f} rounds/minute, "
                        f"{report['exact_rounds']}/{rounds} exact, server peak RSS "
                        f"{report['server_peak_rss_bytes'] / 1e6:.0f} MB")
    table.add_column("stage (send + wait for close)")
    table.add_column("p50 s", justify="right")
    table.add_column("p99 s", justify="right")
    for stage, row in [*report["stage_latency"].items(), ("all", report["all_stages"])]:
        table.add_row(stage, f"{row['p50']:.3f}", f"{row['p99']:.3f}")
    out.print(table)


@bench_app.command("dp")
def bench_dp(
    hidden: Annotated[int, typer.Option(min=8, help="BERT hidden size.")] = 256,
    layers: Annotated[int, typer.Option(min=1, help="BERT layers.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, help="(Expected) batch size.")] = 32,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps per variant.")] = 20,
    clients: Annotated[int, typer.Option(min=3, help="Cohort for the masking time.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """DP-SGD step time against a non-private step, and protect time against training time."""
    if not (module_installed("opacus") and module_installed("peft")):
        console.print("[red]The training extras are not installed.[/] Install them with "
                      "[bold]pip install -e '.\\[train]'[/].")
        raise typer.Exit(code=2)
    from blindsum.benchmarks.dp import DPBenchConfig, run_dp_bench

    cfg = DPBenchConfig(hidden=hidden, layers=layers, batch_size=batch_size, steps=steps,
                        clients=clients)
    with console.status("benchmarking...") as status:
        report = run_dp_bench(cfg, progress=status.update)
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title=f"DP-SGD on FFA-LoRA, BERT {layers}x{hidden}, batch {batch_size} "
                        f"({report['update_values']} uploaded values)")
    table.add_column("variant")
    table.add_column("seconds", justify="right")
    table.add_column("vs non-private", justify="right")
    table.add_row("non-private step", f"{report['plain_step_seconds']:.4f}", "1.00x")
    for mode, r in report["dp"].items():
        table.add_row(f"DP-SGD step ({mode})", f"{r['step_seconds']:.4f}",
                      f"{r['over_plain']:.2f}x")
    table.add_row("PRV accounting check, once per round",
                  f"{report['accounting_seconds_per_round']:.4f}", "")
    protect = report["protect"]
    table.add_row("SecAgg+ masking / round's training", f"{protect['secagg_mask_seconds']:.4f}",
                  f"{protect['secagg_fraction_of_training']:.2%}")
    if "ckks_encrypt_seconds" in protect:
        table.add_row("CKKS encryption / round's training",
                      f"{protect['ckks_encrypt_seconds']:.4f}",
                      f"{protect['ckks_fraction_of_training']:.2%}")
    out.print(table)


def _ingest_table(report: dict[str, Any]) -> Table:
    cfg = report["config"]
    table = Table(title=f"Masked uploads through uvicorn, d={cfg['dim']}, "
                        f"{cfg['concurrency']} concurrent")
    table.add_column("metric")
    for side in ("small", "large"):
        table.add_column(f"n={report[side]['clients']}", justify="right")
    rows = [("upload MB/s", "upload_mb_per_s", "{:.0f}"),
            ("uploads/s", "uploads_per_s", "{:.1f}"),
            ("MB/s incl. stage close", "wall_mb_per_s_incl_close", "{:.0f}"),
            ("upload p50 s", "upload_p50_s", "{:.3f}"),
            ("upload p99 s", "upload_p99_s", "{:.3f}"),
            ("last upload + stage close s", "last_upload_and_close_s", "{:.2f}"),
            ("server peak RSS MB", "peak_rss_bytes", "{:.0f}"),
            ("RSS growth during round MB", "rss_growth_bytes", "{:.0f}"),
            ("exact sum", "exact", "{}")]
    for label, key, fmt in rows:
        cells = []
        for side in ("small", "large"):
            value = report[side][key]
            cells.append(fmt.format(value / 1e6 if key.endswith("rss_bytes") or
                                    key == "rss_growth_bytes" else value))
        table.add_row(label, *cells)
    memory = report["memory"]
    table.add_row("growth(large) - growth(small), in vectors",
                  f"{memory['growth_large_minus_small_bytes'] / memory['vector_bytes']:.2f}", "")
    table.add_row("extra growth per added client KB",
                  f"{memory['growth_per_extra_client_bytes'] / 1e3:.0f}", "")
    return table


def _ckks_table(report: dict[str, Any]) -> Table:
    cfg = report["config"]
    table = Table(title=f"CKKS sum of {cfg['clients']} clients x d={cfg['dim']} "
                        f"(precision run: {cfg['precision_clients']} clients)")
    schemes = [s for s in ("blindsum", "threshold", "tenseal-tutorial", "nvflare") if s in report]
    table.add_column("metric")
    for s in schemes:
        table.add_column(s, justify="right")
    compared = [("ratios", "blindsum", p) for p in schemes[2:]]
    compared += [("threshold_ratios", "threshold", p) for p in ("blindsum", "nvflare")
                 if p in report]
    for _, ours, peer in compared:
        table.add_column(f"{ours} / {peer}", justify="right")
    rows = [("encrypt per client s", "encrypt_seconds", "{:.3f}"),
            ("bytes per float", "bytes_per_float", "{:.2f}"),
            ("server add per client s", "server_add_seconds", "{:.4f}"),
            ("decrypt sum s (all of it)", "decrypt_seconds", "{:.3f}"),
            ("partial decryption per custodian s", "partial_decrypt_seconds", "{:.3f}"),
            ("fusion and decoding s", "fuse_seconds", "{:.3f}"),
            ("relative error", "relative_error", "{:.1e}"),
            ("relative error, many clients", "relative_error_many", "{:.1e}")]
    for label, key, fmt in rows:
        cells = [fmt.format(report[s][key]) if key in report[s] else "" for s in schemes]
        for group, _, peer in compared:
            ratio = report.get(group, {}).get(peer, {}).get(key)
            cells.append("" if ratio is None else f"{ratio:.3f}x")
        table.add_row(label, *cells)
    if "threshold" in report:
        t = report["threshold"]
        table.caption = (f"threshold: 3 custodians, any 2 decrypt; flooding sigma 2^"
                         f"{t['flooding_log2_sigma']:.1f} for statistical distance 2^-"
                         f"{t['statistical_bits']}; 128-bit HE standard (N = 8192, 164 bits)")
    return table


def _flower_installed() -> bool:
    return module_installed("flwr")


def _bench_table(report: dict[str, Any]) -> Table:
    cfg = report["config"]
    table = Table(title=(f"SecAgg+ n={cfg['clients']} d={cfg['dim']} dropped={cfg['dropped']} "
                         f"k={cfg['neighbours']} t={cfg['threshold']} "
                         f"(medians of {cfg['repeats']} rounds)"))
    sides = [s for s in ("blindsum", "flower") if s in report]
    table.add_column("metric")
    for side in sides:
        table.add_column(side, justify="right")
    if "ratios" in report:
        table.add_column("blindsum / flower", justify="right")
    rows = [
        ("client time (encode + check shares + masks) s", "client_seconds", "client_time",
         "{:.4f}"),
        ("server unmask s", "server_unmask_seconds", "server_unmask_time", "{:.4f}"),
        ("server sum of uploads s", "server_sum_seconds", None, "{:.4f}"),
        ("upload bytes / float32 bytes", "upload_over_float32", "upload_bytes", "{:.3f}"),
        ("max abs error", "max_abs_error", None, "{:.2e}"),
        ("exact modular sum", "exact", None, "{}"),
    ]
    for label, key, ratio_key, fmt in rows:
        cells = [fmt.format(report[s][key]) if report[s][key] is not None else "n/a"
                 for s in sides]
        if "ratios" in report:
            cells.append(f"{report['ratios'][ratio_key]:.3f}x" if ratio_key else "")
        table.add_row(label, *cells)
    notes = report["blindsum"].get("notes") or {}
    extra = [("client time, every stage s", "client_seconds_all_stages", "{:.4f}"),
             ("protocol JSON bytes per client", "protocol_json_bytes_per_client", "{:,}"),
             ("relayed JSON bytes per client", "relayed_json_bytes_per_client", "{:,}"),
             ("round trips", "round_trips", "{}")]
    for label, key, fmt in extra:
        if key in notes:
            padding = [""] * (len(sides) - 1 + ("ratios" in report))
            table.add_row(label, fmt.format(notes[key]), *padding)
    return table
