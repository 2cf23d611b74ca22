"""A SecAgg+ round over HTTP: the real client state machines talk to the real service."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from blindsum.crypto.secagg import wire

from .conftest import FEDERATION
from .secagg_site import SecAggSite

SECAGG = dict(FEDERATION, parameters=[{"name": "b", "shape": [40]}], max_clients=8)
DIM = 40


@pytest.fixture
def secagg_round(api, admin, enroll):
    fid = api.post("/v1/federations", json=SECAGG, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(6)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    roster_json = api.get(f"/v1/federations/{fid}/roster",
                          headers={"Authorization": f"Bearer {members[0][1]}"}).json()
    roster = {c["client_id"]: base64.urlsafe_b64decode(c["identity_key"] + "=")
              for c in roster_json}
    clients = [SecAggSite(api, fid, m, round_json, roster) for m in members]
    return fid, round_json, clients


def _stage(api, admin, fid, rid) -> str:
    return api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()["stage"]


def test_round_with_a_dropout_gives_the_exact_sum(api, admin, secagg_round) -> None:
    fid, round_json, clients = secagg_round
    rid = round_json["id"]
    rng = np.random.default_rng(3)
    xs = {c.id: rng.normal(0, 0.05, DIM) for c in clients}
    for c in clients:
        c.commit()
    for c in clients:
        c.advertise()
    assert _stage(api, admin, fid, rid) == "share-keys"
    for c in clients:
        c.share()
    for c in clients:
        c.check()
    assert _stage(api, admin, fid, rid) == "masked-input"
    dropped = clients[-1]
    survivors = clients[:-1]
    for c in survivors:
        c.mask(xs[c.id])
    # the last client never sends: the deadline (here: the admin) closes the stage
    closed = api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin).json()
    assert closed["stage"] == "consistency-check", closed
    for c in survivors:
        c.sign()
    for c in survivors:
        c.unmask()
    final = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()
    assert final["stage"] == "closed", final
    assert final["contributors"] == sorted(c.id for c in survivors)
    raw = api.get(f"/v1/federations/{fid}/rounds/{rid}/result/sum", headers=admin)
    total = np.frombuffer(raw.content, dtype="<f8")
    expected = np.sum([xs[c.id] for c in survivors], axis=0)
    resolution = clients[0].machine.context.codec.resolution
    assert np.max(np.abs(total - expected)) <= len(survivors) * resolution
    assert dropped.id not in final["contributors"]


def test_masked_input_of_the_wrong_size_is_refused(api, admin, secagg_round) -> None:
    *_, clients = secagg_round
    for c in clients:
        c.commit()
    for c in clients:
        c.advertise()
    for c in clients:
        c.share()
    for c in clients:
        c.check()
    response = api.put(clients[0].url("secagg/masked-input"), content=b"\x00" * 12,
                       headers=clients[0].headers)
    assert response.status_code == 422 and "exactly" in response.json()["detail"]
    assert response.json()["type"] == "urn:blindsum:problem:wrong-size"


def test_forged_advert_is_refused_at_once(api, secagg_round) -> None:
    *_, clients = secagg_round
    for c in clients:
        c.commit()
    commitments = wire.commitments_from_json(clients[0].relay("commit-seed"), limit=100)
    advert = wire.advert_to_json(clients[0].machine.advertise_keys(commitments))
    advert["mask_public_key"] = wire.advert_to_json(
        clients[1].machine.advertise_keys(commitments))["mask_public_key"]
    response = api.post(clients[0].url("secagg/advertise-keys"), json=advert,
                        headers=clients[0].headers)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:blindsum:problem:invalid-signature"


def test_out_of_stage_message_is_a_409(api, secagg_round) -> None:
    *_, clients = secagg_round
    response = api.post(clients[0].url("secagg/unmask"),
                        json={"sender": clients[0].id, "self_mask_shares": {},
                              "mask_key_shares": {}, "pair_seeds": {}}, headers=clients[0].headers)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:blindsum:problem:wrong-stage"


def test_too_few_survivors_abort_with_a_reason(api, admin, secagg_round) -> None:
    fid, round_json, clients = secagg_round
    rid = round_json["id"]
    for c in clients:
        c.commit()
    for c in clients[:2]:
        c.advertise()
    closed = api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin).json()
    assert closed["stage"] == "aborted"
    assert closed["abort_reason"].startswith("ThresholdNotMetError")


def test_long_poll_answers_when_the_stage_moves_on(api, admin, secagg_round) -> None:
    fid, round_json, clients = secagg_round
    url = f"/v1/federations/{fid}/rounds/{round_json['id']}"
    for c in clients:
        c.commit()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.get, url, params={"after": "advertise-keys", "wait": 30},
                              headers=clients[0].headers)
        for c in clients:
            c.advertise()
        moved = waiting.result(timeout=60)
    assert moved.status_code == 200 and moved.json()["stage"] == "share-keys"


def test_long_poll_times_out_with_the_unchanged_stage(api, admin, secagg_round) -> None:
    fid, _, _ = secagg_round
    url = f"/v1/federations/{fid}/rounds/current"
    started = time.monotonic()
    same = api.get(url, params={"after": "commit-seed", "wait": 0.5}, headers=admin).json()
    assert same["stage"] == "commit-seed" and time.monotonic() - started >= 0.5
    assert api.get(url, params={"wait": 61}, headers=admin).status_code == 422  # capped
