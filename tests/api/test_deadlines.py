"""Stage deadlines: overdue stages close by themselves, exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from blindsum.aggregator.deadlines import close_expired

from .conftest import FEDERATION
from .secagg_site import SecAggSite
from .server_process import ServerProcess
from .test_crash_and_replicas import ADMIN, _sites


def test_sweeper_closes_overdue_stages_once(api, admin, enroll) -> None:
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [8]}])
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    for _ in range(4):
        enroll(fid)
    rid = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()["id"]
    state = api.app.state
    # The PostgreSQL database is shared by the session's tests: look at this round only.
    assert rid not in close_expired(state.sessions, state.blobs, state.custody_kek)  # not due
    later = datetime.now(UTC) + timedelta(hours=1)
    assert close_expired(state.sessions, state.blobs, state.custody_kek, now=later).count(rid) == 1
    round_ = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()
    assert round_["stage"] == "aborted"  # nobody advertised keys
    assert rid not in close_expired(state.sessions, state.blobs, state.custody_kek, now=later)


@pytest.mark.slow
def test_real_server_moves_on_when_a_client_stays_silent(tmp_path, database_url) -> None:
    server = ServerProcess(tmp_path / "data", database_url)
    server.start()
    try:
        http = server.client()
        spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [8]}],
                    stage_timeout_seconds=2.0)
        fid = http.post("/v1/federations", json=spec, headers=ADMIN).json()["id"]
        from .test_crash_and_replicas import _enroll

        sites: list[SecAggSite] = _sites(http, fid, _enroll(http, fid, 5))
        for s in sites:
            s.commit()
        for s in sites[:-1]:
            s.advertise()
        rid = sites[0].round["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stage = http.get(f"/v1/federations/{fid}/rounds/{rid}", headers=ADMIN).json()["stage"]
            if stage != "advertise-keys":
                break
            time.sleep(0.3)
        assert stage == "share-keys"
        http.close()
    finally:
        server.stop()
