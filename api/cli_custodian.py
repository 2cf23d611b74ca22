"""``blindsum custodian``: run a key custodian next to a site's client.

A custodian holds a share of each round's decryption key and decrypts only that
round's sum, with the others (any t of m). Enroll once with a custodian invite from
the federation's admin, then leave ``run`` going: it follows the rounds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from blindsum.api.cli_support import console, out

__all__ = ["custodian_app"]

custodian_app = typer.Typer(help="Hold a share of each round's CKKS key (threshold custody).",
                            no_args_is_help=True)
StateFile = Annotated[Path, typer.Option("--state", help=(
    "The custodian's state file (its keys and token; mode 0600)."))]


@custodian_app.command("enroll")
def enroll(
    url: Annotated[str, typer.Option(help="The aggregator, e.g. http://127.0.0.1:8000")],
    federation: Annotated[str, typer.Option(help="Federation id.")],
    invite: Annotated[str, typer.Option(envvar="BLINDSUM_INVITE", help=(
        "A custodian invite code from the admin (or set BLINDSUM_INVITE)."))],
    state: StateFile,
    label: Annotated[str, typer.Option(help="A name for this custodian (the site's).")] = "",
) -> None:
    """Spend a custodian invite: generate this custodian's keys and save its state file."""
    from blindsum.client_sdk import Custodian

    with Custodian.enroll(url, federation, invite, state_file=state, label=label) as custodian:
        out.print(f"custodian {custodian.index} of federation {federation}; state in {state}")


@custodian_app.command("run")
def run(
    state: StateFile,
    rounds: Annotated[int | None, typer.Option(min=1, help=(
        "Serve this many rounds, then stop (default: until interrupted)."))] = None,
    timeout: Annotated[float, typer.Option(min=1.0, help=(
        "Give up on a round (or on waiting for one) after this many seconds."))] = 3600.0,
) -> None:
    """Follow the federation's rounds: make each round's key, then decrypt its sum."""
    from blindsum.client_sdk import Custodian
    from blindsum.errors import BlindsumError
    from blindsum.wire import RoundPublic

    with Custodian.load(state) as custodian:
        console.print(f"custodian {custodian.index} of federation "
                      f"{custodian.state.federation_id}: serving rounds (Ctrl-C to stop)")

        def failed(round_: RoundPublic, exc: BlindsumError) -> None:
            console.print(f"[yellow]round {round_.number} failed:[/] {escape(str(exc))}; "
                          "serving the next one")

        try:
            served = custodian.serve(rounds=rounds, timeout=timeout, on_failure=failed)
        except KeyboardInterrupt:
            raise typer.Exit(code=130) from None
    out.print(f"served {served} round(s)")
