"""``blindsum demo``: the real service, real clients, a real model and real private data.

One process plays everyone, but every byte between the clients and the
aggregator goes over HTTP to a real ``blindsum serve`` on 127.0.0.1 (SQLite in
a temporary data directory). Each round: every site trains FFA-LoRA with DP-SGD
on its own topic's tweets, the round opens, the sites protect (SecAgg+ masks or
CKKS) and upload with their signed DP events, the server publishes the sum and
moves the global adapter, and the demo evaluates it on held-out tweets. In one
round a site drops after exchanging keys; the stage deadline moves the round on
and SecAgg+ recovers its masks. In ckks mode every site also runs a key custodian:
each round's key is made by them, any two decrypt the round's sum, and the aggregator
never holds a key; in the drop round one site is offline, custodian included.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from blindsum.benchmarks.local_server import LocalServer
from blindsum.client_sdk import Admin, Client, Custodian
from blindsum.client_sdk.accountant import PrivacyAccountant
from blindsum.client_sdk.secagg_driver import SecAggDriver
from blindsum.client_sdk.trainer import DPConfig, DPLoRATrainer
from blindsum.crypto.secagg.stages import Stage
from blindsum.demo.sites import Evaluator, site_datasets
from blindsum.errors import ConfigError
from blindsum.wire import FederationPublic, RoundPublic

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    mode: str = "secagg"
    clients: int = 4
    rounds: int = 5
    epsilon: float = 8.0
    delta: float = 1e-5
    per_client: int = 256
    test_per_topic: int = 128
    local_steps: int = 4
    batch_size: int = 32
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    learning_rate: float = 1.0
    rank: int = 8
    drop_round: int = 2  # 0: nobody drops
    stage_timeout: float = 15.0
    out_dir: Path = field(default_factory=lambda: Path("blindsum-demo"))

    def check(self) -> None:
        if self.mode not in ("secagg", "ckks"):
            raise ConfigError("--mode is secagg or ckks")
        if self.clients < 3:
            raise ConfigError("a federation needs at least 3 clients (no sum of fewer is "
                              "ever published)")
        if self.drop_round and self.clients < 4:
            raise ConfigError("dropping a client needs at least 4 clients so that 3 remain; "
                              "pass --no-drop or more --clients")


def _drop_after_keys(client: Client, round_: RoundPublic) -> None:
    """Take part in SecAgg+ until the keys are shared, then vanish (as a crashed site)."""
    driver = SecAggDriver(client.transport, client.state.federation_id, round_,
                          client_id=client.client_id, identity_key=client.identity_key,
                          roster=client.roster(), federation=client.federation())
    driver.commit()
    driver.wait_past(Stage.COMMIT_SEED, timeout=120)
    driver.advertise()
    driver.wait_past(Stage.ADVERTISE_KEYS, timeout=120)
    driver.share()


def run_demo(cfg: DemoConfig, console: Console) -> dict[str, Any]:
    cfg.check()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="blindsum-demo-") as tmp, \
            LocalServer(Path(tmp) / "data", admin_token=token,
                        log_file=cfg.out_dir / "server.log") as server, \
            Admin(server.base_url, token) as admin:
        console.print(f"aggregator: [bold]{server.base_url}[/] (SQLite in a temporary "
                      f"directory; log in {cfg.out_dir / 'server.log'})")
        return _federate(cfg, console, server, admin, started)


def _federate(cfg: DemoConfig, console: Console, server: LocalServer, admin: Admin,
              started: float) -> dict[str, Any]:
    with console.status("loading the model and the tweets (offline)..."):
        sites = site_datasets(cfg.clients, cfg.per_client, cfg.test_per_topic)
        shared_seed = os.urandom(32)  # agreed by the federation: fixes the frozen LoRA A
        evaluator = Evaluator(sites, shared_seed, rank=cfg.rank)
    custody = ({"custody": "threshold", "custodians": cfg.clients, "custodian_threshold": 2}
               if cfg.mode == "ckks" else {})
    fed = admin.create_federation(
        "demo", cfg.mode, evaluator.spec, min_clients=3, max_clients=cfg.clients,
        clip_norm=10.0, epsilon_budget=cfg.epsilon, delta=cfg.delta,
        stage_timeout_seconds=cfg.stage_timeout, **custody)
    console.print(f"federation [bold]{fed.id}[/] ({cfg.mode}): {fed.dimension:,} values "
                  f"per update (LoRA B r={cfg.rank} on query/value + the head), budget "
                  f"epsilon={cfg.epsilon:g} at delta={cfg.delta:g}")
    clients, trainers, custodians = [], [], []
    for i, site in enumerate(sites.silos):
        if cfg.mode == "ckks":  # each site holds a share of every round's key
            keys = cfg.out_dir / "custodians" / f"{site.topic}.json"
            keys.parent.mkdir(exist_ok=True)
            keys.unlink(missing_ok=True)
            custodians.append(Custodian.enroll(
                server.base_url, fed.id, admin.invite(fed.id, site.topic, role="custodian"),
                state_file=keys, label=site.topic))
        state = cfg.out_dir / "clients" / f"{site.topic}.json"
        state.parent.mkdir(exist_ok=True)
        state.unlink(missing_ok=True)
        clients.append(Client.enroll(server.base_url, fed.id,
                                     admin.invite(fed.id, site.topic), state_file=state,
                                     label=site.topic))
        trainers.append(DPLoRATrainer(
            evaluator.fresh_model(), site.dataset,
            accountant=PrivacyAccountant(epsilon_budget=cfg.epsilon, delta=cfg.delta),
            config=DPConfig(noise_multiplier=cfg.noise_multiplier,
                            max_grad_norm=cfg.max_grad_norm, batch_size=cfg.batch_size,
                            learning_rate=cfg.learning_rate),
            shared_seed=shared_seed, forward=evaluator.forward))
        console.print(f"  site {i + 1}: [bold]{site.topic}[/], {len(site.dataset)} private "
                      "tweets, enrolled with a one-time invite"
                      + (" (and its key custodian)" if custodians else ""))
    # Every site starts from the same adapter (B = 0, the head's seeded init): the server's
    # global adapter starts there too, and each round's average moves it.
    admin.set_global_adapter(fed.id, evaluator.start)
    baseline = evaluator.evaluate(evaluator.start)
    console.print(f"global adapter before training: accuracy {baseline[0]:.1%}, "
                  f"loss {baseline[1]:.3f} on {evaluator.test_size} held-out tweets")
    history = _rounds(cfg, console, admin, fed, Sites(clients, custodians), trainers, evaluator)
    for custodian in custodians:
        custodian.close()
    return _finish(cfg, admin, fed, clients, evaluator, baseline, history,
                   started)


@dataclass
class Sites:
    """Every site's client, and under threshold custody its key custodian."""

    clients: list[Client]
    custodians: list[Custodian]


def _rounds(cfg: DemoConfig, console: Console, admin: Admin, fed: FederationPublic,
            sites: Sites, trainers: list[DPLoRATrainer],
            evaluator: Evaluator) -> list[dict[str, Any]]:
    clients = sites.clients
    history: list[dict[str, Any]] = []
    global_values = admin.global_adapter(fed.id)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        rounds_bar = progress.add_task("rounds", total=cfg.rounds)
        for number in range(1, cfg.rounds + 1):
            t0 = time.perf_counter()
            dropping = number == cfg.drop_round
            train_bar = progress.add_task(f"round {number}: local DP-SGD", total=len(trainers))
            updates = []
            for trainer in trainers:
                trainer.load_global(global_values)
                updates.append(trainer.train_round(cfg.local_steps))
                progress.advance(train_bar)
            progress.update(train_bar, visible=False)
            round_ = admin.open_round(fed.id)
            note = "" if not dropping else (
                f"; [yellow]{evaluator.topics[-1]} drops after sharing its keys[/]"
                if cfg.mode == "secagg" else
                f"; [yellow]{evaluator.topics[-1]} is offline, client and custodian[/]")
            progress.console.print(f"round {number}: sites protect ({cfg.mode}) and upload{note}")
            final = _protect_and_upload(cfg, sites, updates, round_, dropping)
            global_values = admin.global_adapter(fed.id)
            accuracy, loss = evaluator.evaluate(global_values)
            uploaded = sum(c.last_upload_bytes for c in clients[: len(clients) - dropping])
            history.append({
                "round": number, "accuracy": accuracy, "loss": loss,
                "seconds": time.perf_counter() - t0, "uploaded_bytes": uploaded,
                "contributors": len(final.contributors or ()),
                "dropped": [clients[-1].client_id] if dropping else [],
                "epsilon": [t.accountant.epsilon for t in trainers],
            })
            progress.console.print(
                f"round {number}: accuracy [bold]{accuracy:.1%}[/], loss {loss:.3f}, "
                f"{len(final.contributors or ())} contributors, {uploaded / 1e6:.2f} MB uploaded, "
                f"{history[-1]['seconds']:.1f} s, max epsilon so far "
                f"{max(history[-1]['epsilon']):.2f}")
            progress.advance(rounds_bar)
    return history


def _protect_and_upload(cfg: DemoConfig, sites: Sites, updates: list[Any],
                        round_: RoundPublic, dropping: bool) -> RoundPublic:
    clients = sites.clients
    active = clients[:-1] if dropping else clients
    custodians = sites.custodians[:-1] if dropping else sites.custodians
    with ThreadPoolExecutor(len(clients) + len(custodians)) as pool:
        serving = [pool.submit(k.serve_round, round_, timeout=600) for k in custodians]
        running = [pool.submit(c.submit, u.delta, round_, dp_event=u.event,
                               timeout=600)
                   for c, u in zip(active, updates, strict=False)]
        if dropping and cfg.mode == "secagg":
            pool.submit(_drop_after_keys, clients[-1], round_).result()
        finals = [r.result() for r in running]
        for k in serving:
            k.result()
    return finals[0]


def _finish(cfg: DemoConfig, admin: Admin, fed: FederationPublic, clients: list[Client],
            evaluator: Evaluator,
            baseline: tuple[float, float], history: list[dict[str, Any]],
            started: float) -> dict[str, Any]:
    report = admin.privacy_report(fed.id)
    (cfg.out_dir / "privacy-report.html").write_text(admin.privacy_report(fed.id, html=True))
    adapter_dir = cfg.out_dir / "adapter"
    evaluator.export(admin.global_adapter(fed.id), adapter_dir)
    for c in clients:
        c.close()
    summary = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "federation_id": fed.id, "topics": evaluator.topics,
        "baseline": {"accuracy": baseline[0], "loss": baseline[1]},
        "rounds": history,
        "final": {"accuracy": history[-1]["accuracy"], "loss": history[-1]["loss"]},
        "privacy": {"worst_case_epsilon": report["worst_case"]["epsilon"],
                    "delta": report["budget"]["delta"],
                    "per_client_epsilon": {c["label"]: c["epsilon"]["example"]
                                           for c in report["clients"]},
                    "mismatches": sum(c["mismatches"] for c in report["clients"])},
        "uploaded_bytes": sum(r["uploaded_bytes"] for r in history),
        "seconds": time.perf_counter() - started,
        "outputs": {"privacy_report_html": str(cfg.out_dir / "privacy-report.html"),
                    "adapter": str(adapter_dir)},
    }
    return summary
