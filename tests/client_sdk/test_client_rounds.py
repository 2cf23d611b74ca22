"""The SDK end to end: real ``blindsum serve`` on loopback, clients in threads, both modes."""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dp_accounting
import numpy as np
import pytest
from dp_accounting.rdp import RdpAccountant

from blindsum.accounting import RDP_ORDERS, distributed_dg_epsilon
from blindsum.benchmarks.local_server import LocalServer
from blindsum.client_sdk import Admin, Client, Custodian
from blindsum.crypto.secagg.distributed_dp import DDGParams
from blindsum.errors import AuthError, BudgetExhaustedError, ConfigError, NotFoundError
from blindsum.wire import RoundPublic, SecAggProtocol

TOKEN = "sdk-admin-" + "y" * 32
DIM = 48


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("srv") / "data", admin_token=TOKEN) as srv:
        yield srv


@pytest.fixture
def admin(server) -> Iterator[Admin]:
    with Admin(server.base_url, TOKEN) as a:
        yield a


OPEN: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def _federation(admin: Admin, server: LocalServer, mode: str, tmp_path: Path,
                n: int = 4, **settings) -> tuple[str, list[Client]]:
    if mode == "ckks":
        settings.setdefault("custody", "local")
    fed = admin.create_federation(f"sdk-{mode}", mode, [("lora_B", (6, 4)), ("head", (24,))],
                                  min_clients=3, max_clients=6, **settings)
    clients = [Client.enroll(server.base_url, fed.id, admin.invite(fed.id, f"site{i}"),
                             state_file=tmp_path / f"site{i}.json", label=f"site{i}")
               for i in range(n)]
    OPEN.extend(clients)
    return fed.id, clients


def _updates(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.uniform(-0.05, 0.05, DIM) for _ in range(n)]


def _take_part(client: Client, update: np.ndarray) -> RoundPublic:
    round_ = client.next_round(timeout=60)
    return client.submit(update, round_, timeout=120)


@pytest.mark.parametrize("mode", ["secagg", "ckks"])
def test_clients_get_the_exact_sum_and_average(server, admin, tmp_path, mode) -> None:
    fid, clients = _federation(admin, server, mode, tmp_path)
    xs = _updates(len(clients))
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(_take_part, c, x) for c, x in zip(clients, xs, strict=True)]
        admin.open_round(fid)
        finals = [f.result(timeout=180) for f in futures]
    assert {f.stage for f in finals} == {"closed"}
    rid = finals[0].id
    assert sorted(finals[0].contributors) == sorted(c.client_id for c in clients)
    total = clients[0].result(rid)
    tolerance = 1e-6 if mode == "secagg" else 1e-7
    np.testing.assert_allclose(total, np.sum(xs, axis=0), atol=tolerance)
    np.testing.assert_allclose(admin.result(fid, rid, average=True), np.mean(xs, axis=0),
                               atol=tolerance)
    assert clients[1].last_upload_bytes > 0


def test_custodians_in_threads_decrypt_each_round_over_a_real_server(server, admin,
                                                                    tmp_path) -> None:
    """Threshold custody over loopback HTTP: four custodians (any two decrypt) serve two
    rounds beside the clients; the aggregator never holds a key."""
    fid, clients = _federation(admin, server, "ckks", tmp_path, custody="threshold",
                               custodians=4, custodian_threshold=2)
    custodians = [Custodian.enroll(server.base_url, fid, admin.invite(fid, f"k{i}", "custodian"),
                                   state_file=tmp_path / f"k{i}.json") for i in range(4)]
    try:
        for _ in range(2):
            xs = _updates(len(clients))
            with ThreadPoolExecutor(len(clients) + len(custodians)) as pool:
                round_ = admin.open_round(fid)
                serving = [pool.submit(k.serve_round, round_, timeout=120) for k in custodians]
                futures = [pool.submit(c.submit, x, round_, timeout=120)
                           for c, x in zip(clients, xs, strict=True)]
                finals = [f.result(timeout=180) for f in futures]
                assert all(k.result(timeout=180).stage == "closed" for k in serving)
            assert {f.stage for f in finals} == {"closed"}
            np.testing.assert_allclose(clients[0].result(round_.id), np.sum(xs, axis=0),
                                       atol=1e-6)
    finally:
        for k in custodians:
            k.close()
    for i in range(4):  # no round's key share outlives its round
        assert '"shares": {}' in (tmp_path / f"k{i}.json").read_text()
        assert stat.S_IMODE((tmp_path / f"k{i}.json").stat().st_mode) == 0o600


def test_a_silent_client_is_dropped_and_the_rest_still_sum(server, admin, tmp_path) -> None:
    fid, clients = _federation(admin, server, "secagg", tmp_path, n=5,
                               stage_timeout_seconds=3.0)
    xs = _updates(5)
    active = clients[:4]  # the fifth never answers: the deadlines move the round on
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_take_part, c, x) for c, x in zip(active, xs, strict=False)]
        admin.open_round(fid)
        finals = [f.result(timeout=180) for f in futures]
    rid = finals[0].id
    assert sorted(finals[0].contributors) == sorted(c.client_id for c in active)
    np.testing.assert_allclose(clients[0].result(rid), np.sum(xs[:4], axis=0), atol=1e-6)


def test_state_file_is_private_reloadable_and_remembers_rounds(server, admin, tmp_path) -> None:
    fid, clients = _federation(admin, server, "secagg", tmp_path, n=3)
    path = tmp_path / "site0.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Client.load(path)
    OPEN.append(again)
    assert again.client_id == clients[0].client_id
    assert again.federation().dimension == DIM
    with pytest.raises(ConfigError, match="already exists"):
        Client.enroll(server.base_url, fid, admin.invite(fid), state_file=path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Client.load(path)


def test_sdk_raises_the_servers_error_classes(server, admin, tmp_path) -> None:
    fid, clients = _federation(admin, server, "secagg", tmp_path, n=3)
    with pytest.raises(AuthError):
        Client.enroll(server.base_url, fid, "bsi_not-a-real-invite-code-at-all")
    with pytest.raises(NotFoundError):
        clients[0].result("no-such-round")
    with pytest.raises(ConfigError, match="spec has"):
        clients[0].submit(np.zeros(DIM + 1), {"number": 1})


def test_distributed_dp_round_sums_with_the_stated_noise(server, admin, tmp_path) -> None:
    fid, clients = _federation(admin, server, "secagg", tmp_path,
                               client_dp={"noise_multiplier": 1.0})
    xs = _updates(len(clients))
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(_take_part, c, x) for c, x in zip(clients, xs, strict=True)]
        round_ = admin.open_round(fid)
        finals = [f.result(timeout=180) for f in futures]
    assert round_.protocol.ddg is not None and round_.protocol.dimension == 64  # padded
    total = clients[0].result(finals[0].id)
    error = total - np.sum(xs, axis=0)
    min_survivors = round_.protocol.min_survivors
    sigma = 1.0 * np.sqrt(len(clients) / min_survivors)
    assert np.all(np.abs(error) < 6 * sigma) and np.std(error) > sigma / 4  # noise is there
    assert clients[0].state.client_dp_rounds == 1
    # the client and the server's ledger compute the same Kairouz et al. bound
    report = admin.privacy_report(fid)
    mine = next(c for c in report["clients"] if c["client_id"] == clients[0].client_id)
    assert clients[0].client_level_epsilon() == pytest.approx(mine["epsilon"]["client"])
    ddg = DDGParams.from_json(round_.protocol.ddg.model_dump())
    assert mine["epsilon"]["client"] == pytest.approx(
        distributed_dg_epsilon([ddg.accounting_terms()], 1e-5))
    assert [h["accountant"] for h in mine["history"]] == ["ddg-rdp"]
    # re-derived with dp-accounting: here the noise is far above the integer grid (tau ~ 0),
    # so the bound is the Gaussian mechanism's RDP at z = sqrt(n) sigma / l2
    terms = ddg.accounting_terms()
    rdp = RdpAccountant(orders=list(RDP_ORDERS))
    rdp.compose(dp_accounting.GaussianDpEvent(
        math.sqrt(terms["clients"]) * terms["sigma"] / terms["l2"]))
    assert mine["epsilon"]["client"] == pytest.approx(rdp.get_epsilon(1e-5), rel=1e-6)
    clients[0].state.client_dp_terms = []  # a state file from before rounds kept their terms
    assert clients[0].client_level_epsilon() == math.inf  # unknown, never 0


def test_client_refuses_a_round_announcing_less_noise(server, admin, tmp_path) -> None:
    from blindsum.client_sdk.secagg_driver import SecAggDriver

    fid, clients = _federation(admin, server, "secagg", tmp_path,
                               client_dp={"noise_multiplier": 1.0})
    round_ = admin.open_round(fid)
    protocol = round_.protocol
    assert isinstance(protocol, SecAggProtocol) and protocol.ddg is not None
    lying = round_.model_copy(update={"protocol": protocol.model_copy(update={
        "ddg": protocol.ddg.model_copy(update={"sigma_client": 1.0})})})
    c = clients[0]
    with pytest.raises(ConfigError, match="differ"):
        SecAggDriver(c.transport, fid, lying, client_id=c.client_id,
                     identity_key=c.identity_key, roster=c.roster(), federation=c.federation())
    silent = round_.model_copy(update={"protocol": protocol.model_copy(update={"ddg": None})})
    with pytest.raises(ConfigError, match="unnoised"):
        SecAggDriver(c.transport, fid, silent, client_id=c.client_id,
                     identity_key=c.identity_key, roster=c.roster(), federation=c.federation())
    admin.abort(fid, round_.id)


def test_client_level_budget_is_refused_before_sending(server, admin, tmp_path) -> None:
    fid, clients = _federation(admin, server, "secagg", tmp_path, epsilon_budget=0.01,
                               client_dp={"noise_multiplier": 0.5})
    round_ = admin.open_round(fid)
    with pytest.raises(BudgetExhaustedError, match="client-level epsilon"):
        clients[0].submit(np.zeros(DIM), clients[0].next_round(timeout=10))
    assert clients[0].state.client_dp_rounds == 0
    admin.abort(fid, round_.id)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_client_refuses_non_finite_updates_before_sending(server, admin, tmp_path, bad) -> None:
    _, clients = _federation(admin, server, "secagg", tmp_path, n=3)
    update = np.zeros(DIM)
    update[3] = bad
    with pytest.raises(ConfigError, match="NaN or infinity"):
        clients[0].submit(update, {"number": 1, "id": "unused"})
