"""The service logs ids and stage changes, never tokens, invite codes, bodies or vectors."""

from __future__ import annotations

import base64
import logging

import numpy as np

from .conftest import ADMIN_TOKEN, FEDERATION
from .secagg_site import round_sites


def test_a_whole_round_logs_no_secret_and_no_update(api, admin, enroll, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [32]}])
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    code = api.post(f"/v1/federations/{fid}/invites", json={}, headers=admin).json()["code"]
    members = [enroll(fid) for _ in range(4)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    sites = round_sites(api, fid, members, round_json)
    for step in ("commit", "advertise", "share", "check"):
        for s in sites:
            getattr(s, step)()
    for s in sites:
        s.mask(np.full(32, 0.01))
    for step in ("sign", "unmask"):
        for s in sites:
            getattr(s, step)()
    api.get("/v1/federations/nope", headers={"Authorization": "Bearer bsc_guessed-token"})
    assert api.get(f"/v1/federations/{fid}/rounds/{round_json['id']}",
                   headers=admin).json()["stage"] == "closed"

    logged = "\n".join(r.getMessage() for r in caplog.records)
    secrets = [ADMIN_TOKEN, code, "bsc_guessed-token"] + [token for _, token, _ in members]
    for s in sites:
        secrets.append(base64.b64encode(s.masked_bytes[:24]).decode())
        secrets.append(s.masked_bytes[:24].hex())
    for secret in secrets:
        assert secret not in logged
    assert "0.01" not in logged
    assert f"round {round_json['id']}" in logged and "unmask -> closed" in logged  # it did log
