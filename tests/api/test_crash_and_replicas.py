"""Real uvicorn on loopback: SIGKILL between (and inside) stages loses nothing; two workers
sharing PostgreSQL and the blob store produce the same exact sums under concurrent uploads."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from blindsum.crypto.enrollment import enrollment_payload
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes, sign

from .conftest import ADMIN_TOKEN, FEDERATION, b64
from .secagg_site import SecAggSite
from .server_process import ServerProcess

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DIM = 64


@pytest.fixture
def server(tmp_path, database_url) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", database_url)
    proc.start()
    yield proc
    proc.stop()


def _enroll(http, fid: str, n: int) -> list:
    members = []
    for _ in range(n):
        code = http.post(f"/v1/federations/{fid}/invites", json={}, headers=ADMIN).json()["code"]
        key = generate_identity_key()
        body = {"invite_code": code, "identity_key": b64(identity_public_bytes(key)),
                "proof": b64(sign(key, enrollment_payload(fid, code)))}
        data = http.post(f"/v1/federations/{fid}/enroll", json=body).json()
        members.append((data["client_id"], data["token"], key))
    return members


def _sites(http, fid, members) -> list[SecAggSite]:
    round_json = http.post(f"/v1/federations/{fid}/rounds", headers=ADMIN).json()
    roster = {c["client_id"]: base64.urlsafe_b64decode(c["identity_key"] + "=")
              for c in http.get(f"/v1/federations/{fid}/roster",
                                headers={"Authorization": f"Bearer {members[0][1]}"}).json()}
    return [SecAggSite(http, fid, m, round_json, roster) for m in members]


@pytest.mark.slow
def test_sigkill_at_every_stage_still_gives_the_exact_sum(server) -> None:
    http = server.client()
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}], max_clients=8)
    fid = http.post("/v1/federations", json=spec, headers=ADMIN).json()["id"]
    sites = _sites(http, fid, _enroll(http, fid, 5))
    rng = np.random.default_rng(9)
    xs = {s.id: rng.normal(0, 0.05, DIM) for s in sites}

    def crash() -> None:
        sites[0].api.close()
        server.kill()
        server.start()
        fresh = server.client()
        for s in sites:
            s.api = fresh

    for s in sites:
        s.commit()
    crash()
    for s in sites:
        s.advertise()
    crash()
    for s in sites:
        s.share()
    for s in sites:
        s.check()
    crash()
    sites[0].mask(xs[sites[0].id])
    crash()
    assert sites[0].resend_masked() is False  # the acknowledged upload survived; no double count
    for s in sites[1:]:
        s.mask(xs[s.id])
    crash()
    for s in sites:
        s.sign()
    crash()
    for s in sites:
        s.unmask()
    http = sites[0].api
    rid = sites[0].round["id"]
    final = http.get(f"/v1/federations/{fid}/rounds/{rid}", headers=ADMIN).json()
    assert final["stage"] == "closed", final
    assert final["contributors"] == sorted(s.id for s in sites)
    total = np.frombuffer(http.get(f"/v1/federations/{fid}/rounds/{rid}/result/sum",
                                   headers=ADMIN).content, dtype="<f8")
    resolution = sites[0].machine.context.codec.resolution
    assert np.max(np.abs(total - np.sum(list(xs.values()), axis=0))) <= 5 * resolution
    http.close()


def test_two_workers_on_postgresql_sum_concurrent_uploads_exactly(tmp_path,
                                                                  postgres_url) -> None:
    server = ServerProcess(tmp_path / "data", postgres_url, workers=2)
    server.start()
    try:
        http = server.client()
        spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}], max_clients=10)
        fid = http.post("/v1/federations", json=spec, headers=ADMIN).json()["id"]
        sites = _sites(http, fid, _enroll(http, fid, 8))
        rng = np.random.default_rng(11)
        xs = {s.id: rng.normal(0, 0.05, DIM) for s in sites}
        for s in sites:  # each site its own connection, so requests spread over both workers
            s.api = server.client()
        with ThreadPoolExecutor(8) as pool:
            for step in ("commit", "advertise", "share", "check", "mask", "sign", "unmask"):
                args = [(s, xs[s.id]) if step == "mask" else (s,) for s in sites]
                list(pool.map(lambda a, step=step: getattr(a[0], step)(*a[1:]), args))
        rid = sites[0].round["id"]
        final = http.get(f"/v1/federations/{fid}/rounds/{rid}", headers=ADMIN).json()
        assert final["stage"] == "closed", final
        total = np.frombuffer(http.get(f"/v1/federations/{fid}/rounds/{rid}/result/sum",
                                       headers=ADMIN).content, dtype="<f8")
        resolution = sites[0].machine.context.codec.resolution
        assert np.max(np.abs(total - np.sum(list(xs.values()), axis=0))) <= 8 * resolution
        for s in sites:
            s.api.close()
        http.close()
    finally:
        server.stop()
