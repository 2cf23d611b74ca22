"""Threshold custody survives crashes: the aggregator SIGKILLed and restarted as the round
enters each of its stages, and a custodian that dies between storing its decryption
ledger and sending its partial, restarted from its state file. Real uvicorn on loopback,
the SDK's clients and custodians in threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from blindsum.client_sdk import Admin, Client, Custodian
from blindsum.client_sdk.flows import Call
from blindsum.crypto.ckks.stages import THRESHOLD_STAGES

from .conftest import ADMIN_TOKEN
from .server_process import ServerProcess

pytest.importorskip("tenseal")
pytestmark = pytest.mark.slow

DIM = 40
RETRIES = 12  # outlast a restart: full-jitter backoff from 0.5 s, doubling to 30 s


@pytest.fixture
def server(tmp_path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", f"sqlite:///{tmp_path / 'service.db'}")
    proc.start()
    yield proc
    proc.stop()


def _federation(server: ServerProcess, tmp_path):
    with Admin(server.base_url, ADMIN_TOKEN) as admin:
        fed = admin.create_federation("crash", "ckks", [("w", (DIM,))], min_clients=3,
                                      max_clients=4, custodians=4, custodian_threshold=2,
                                      stage_timeout_seconds=60)
        clients = [Client.enroll(server.base_url, fed.id, admin.invite(fed.id, f"c{i}"),
                                 state_file=tmp_path / f"c{i}.json", retries=RETRIES)
                   for i in range(4)]
        custodians = [Custodian.enroll(server.base_url, fed.id,
                                       admin.invite(fed.id, f"k{i}", "custodian"),
                                       state_file=tmp_path / f"k{i}.json", retries=RETRIES)
                      for i in range(4)]
    return fed, clients, custodians


def _run_round(server, fed, clients, custodians, serve=None):
    updates = [np.random.default_rng(i).uniform(-0.02, 0.02, DIM) for i in range(4)]
    with Admin(server.base_url, ADMIN_TOKEN, retries=RETRIES) as admin:
        round_ = admin.open_round(fed.id)
    serve = serve or (lambda k, r: k.serve_round(r, timeout=240))
    with ThreadPoolExecutor(8) as pool:
        serving = [pool.submit(serve, k, round_) for k in custodians]
        running = [pool.submit(c.submit, u, round_, timeout=240)
                   for c, u in zip(clients, updates, strict=True)]
        finals = [f.result(timeout=300) for f in running]
        for k in serving:
            k.result(timeout=300)
    return updates, finals, round_


def test_the_aggregator_killed_as_each_stage_begins_loses_nothing(server, tmp_path) -> None:
    fed, clients, custodians = _federation(server, tmp_path)
    seen: list[str] = []
    done = threading.Event()

    def crasher() -> None:
        """Kill and restart the server the first time the round is seen in each stage."""
        stages = [s.value for s in THRESHOLD_STAGES]
        while not done.is_set():
            try:
                with server.client(timeout=5) as http:
                    current = http.get(f"/v1/federations/{fed.id}/rounds/current",
                                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
                stage = current.json().get("stage") if current.status_code == 200 else None
            except Exception:
                stage = None
            if stage in stages and stage not in seen:
                seen.append(stage)
                server.kill()
                server.start()
            time.sleep(0.05)

    watcher = threading.Thread(target=crasher, daemon=True)
    watcher.start()
    try:
        updates, finals, round_ = _run_round(server, fed, clients, custodians)
    finally:
        done.set()
        watcher.join(timeout=30)
    assert len(seen) >= 3, seen  # killed as at least three stages began
    assert {f.stage for f in finals} == {"closed"}
    np.testing.assert_allclose(clients[0].result(round_.id), np.sum(updates, axis=0),
                               atol=1e-6)
    for c in [*clients, *custodians]:
        c.close()


def test_a_custodian_that_dies_before_sending_its_partial_is_restarted_from_disk(
        server, tmp_path) -> None:
    fed, clients, custodians = _federation(server, tmp_path)
    died = threading.Event()

    def serve(custodian: Custodian, round_):
        original = custodian.transport.send

        def send(call: Call):
            if call.method == "PUT" and call.path.endswith("/custody/partial") and \
                    not died.is_set():
                died.set()  # the ledger is on disk; the partial never leaves: a SIGKILL here
                raise SystemExit("custodian killed")
            return original(call)

        custodian.transport.send = send  # type: ignore[method-assign]
        try:
            return custodian.serve_round(round_, timeout=240)
        except SystemExit:
            path = custodian.state_file
            custodian.close()
            # the restarted process, from its state file
            with Custodian.load(path, retries=RETRIES) as again:
                assert again.state.shares  # the round's share survived the crash
                return again.serve_round(round_, timeout=240)

    updates, finals, round_ = _run_round(server, fed, clients, custodians, serve)
    assert died.is_set()
    assert {f.stage for f in finals} == {"closed"}
    np.testing.assert_allclose(clients[0].result(round_.id), np.sum(updates, axis=0),
                               atol=1e-6)
    for c in [*clients, *custodians]:
        c.close()
