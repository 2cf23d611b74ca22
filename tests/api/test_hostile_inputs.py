"""A catalogue of hostile requests: each gets a clear 4xx problem and leaves the round's
state exactly as it was (stage, version, stored messages, blobs, ledger)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import func, select

from blindsum.aggregator.models import LedgerRow, MessageRow, RoundRow

from .conftest import FEDERATION
from .secagg_site import round_sites

DIM = 32


@pytest.fixture
def scene(api, admin, enroll, settings):
    """Two federations; in the first, a round waiting for masked inputs, one already in."""
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}])
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    other_fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(4)]
    outsider = enroll(other_fid)
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    sites = round_sites(api, fid, members, round_json)
    for s in sites:
        s.commit()
    for s in sites:
        s.advertise()
    for s in sites:
        s.share()
    for s in sites:
        s.check()
    sites[0].mask(np.full(DIM, 0.01))
    sites[1].masked_bytes = b""  # filled by cases that need a valid one
    return {"api": api, "fid": fid, "round": round_json, "sites": sites,
            "outsider": outsider, "settings": settings}


def _state(scene) -> tuple:
    state = scene["api"].app.state
    with state.sessions() as session:
        row = session.get(RoundRow, scene["round"]["id"])
        messages = session.scalar(select(func.count()).select_from(MessageRow).where(
            MessageRow.round_id == row.id))
        ledger = session.scalar(select(func.count()).select_from(LedgerRow))
        stage, version = row.stage, row.version
    blobs = sorted(p.name for p in (scene["settings"].data_dir / "blobs").rglob("*")
                   if p.is_file())
    return stage, version, messages, ledger, blobs


def _put(scene, site, body: bytes, *, headers=None, round_id=None, fid=None):
    url = (f"/v1/federations/{fid or scene['fid']}/rounds/{round_id or scene['round']['id']}"
           "/secagg/masked-input")
    return scene["api"].put(url, content=body, headers=headers or site.headers)


def _valid(site) -> bytes:
    return np.random.default_rng(1).integers(0, 2**32, DIM, dtype=np.uint32).astype(
        "<u4").tobytes()


CASES: dict[str, tuple[Callable, int, str]] = {
    "truncated upload": (lambda sc: _put(sc, sc["sites"][1], _valid(sc["sites"][1])[:-4]),
                         422, "wrong-size"),
    "oversized upload": (lambda sc: _put(sc, sc["sites"][1], _valid(sc["sites"][1]) + b"\0" * 4),
                         413, "payload-too-large"),
    "empty upload": (lambda sc: _put(sc, sc["sites"][1], b""), 422, "wrong-size"),
    "a different second upload": (
        lambda sc: _put(sc, sc["sites"][0], _valid(sc["sites"][0])), 409, "protocol-violation"),
    "another client's key advert replayed": (
        lambda sc: sc["api"].post(sc["sites"][1].url("secagg/advertise-keys"),
                                  json=next(a for a in sc["sites"][1].relay("advertise-keys")
                                            if a["sender"] == sc["sites"][2].id),
                                  headers=sc["sites"][1].headers),
        409, "protocol-violation"),
    "unmask before its stage": (
        lambda sc: sc["api"].post(sc["sites"][1].url("secagg/unmask"),
                                  json={"sender": sc["sites"][1].id, "self_mask_shares": {},
                                        "mask_key_shares": {}, "pair_seeds": {}},
                                  headers=sc["sites"][1].headers),
        409, "wrong-stage"),
    "another round's id": (
        lambda sc: _put(sc, sc["sites"][1], _valid(sc["sites"][1]), round_id=str(uuid.uuid4())),
        404, "not-found"),
    "another federation's client": (
        lambda sc: _put(sc, None, _valid(sc["sites"][1]),
                        headers={"Authorization": f"Bearer {sc['outsider'][1]}"}),
        404, "not-found"),
    "forged token": (
        lambda sc: _put(sc, None, _valid(sc["sites"][1]),
                        headers={"Authorization": "Bearer bsc_" + "A" * 43}), 401, "unauthorized"),
    "absent token": (lambda sc: _put(sc, None, _valid(sc["sites"][1]), headers={"X": "y"}),
                     401, "unauthorized"),
    "malformed JSON": (
        lambda sc: sc["api"].post(sc["sites"][1].url("secagg/share-keys"),
                                  content=b"{not json", headers={
                                      **sc["sites"][1].headers,
                                      "Content-Type": "application/json"}),
        400, "malformed-message"),
    "JSON of the wrong shape": (
        lambda sc: sc["api"].post(sc["sites"][1].url("secagg/share-keys"),
                                  json={"envelopes": "nope"}, headers=sc["sites"][1].headers),
        400, ""),
    "DP event with a forged signature": (
        lambda sc: sc["api"].post(
            f"/v1/federations/{sc['fid']}/rounds/{sc['round']['id']}/dp-event",
            json={"event": {"mechanism": "dp-sgd", "unit": "example", "noise_multiplier": 1.0,
                            "sample_rate": 0.01, "sampling": "poisson", "steps": 10,
                            "max_grad_norm": 1.0, "delta": 1e-5, "accountant": "prv",
                            "epsilon_after": 0.5},
                  "signature": base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()},
            headers=sc["sites"][1].headers),
        422, "invalid-signature"),
    "a stage name that does not exist": (
        lambda sc: sc["api"].post(sc["sites"][1].url("secagg/finish-early"), json={},
                                  headers=sc["sites"][1].headers), 422, "invalid-request"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_request_is_refused_and_changes_nothing(scene, case) -> None:
    send, status, slug = CASES[case]
    before = _state(scene)
    response = send(scene)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if slug:
        assert response.json()["type"].endswith(f":{slug}")
    assert "Traceback" not in response.text
    assert _state(scene) == before


def test_the_same_upload_again_is_acknowledged_and_changes_nothing(scene) -> None:
    before = _state(scene)
    assert scene["sites"][0].resend_masked() is False
    assert _state(scene) == before


def test_a_clients_own_message_replayed_after_its_stage_is_acknowledged(scene) -> None:
    """A retry after a lost response must not look like a failure, even once the round has
    moved on: the same bytes are acknowledged with stored=false and change nothing."""
    site = scene["sites"][1]
    own = next(a for a in scene["sites"][0].relay("advertise-keys") if a["sender"] == site.id)
    before = _state(scene)
    response = scene["api"].post(site.url("secagg/advertise-keys"), json=own,
                                 headers=site.headers)
    assert response.status_code == 202 and response.json()["stored"] is False
    assert _state(scene) == before


def test_huge_headers_are_refused_by_the_real_server_which_stays_up(tmp_path) -> None:
    import httpx

    from .server_process import ServerProcess

    server = ServerProcess(tmp_path / "data", f"sqlite:///{tmp_path / 'h.db'}")
    server.start()
    try:
        with server.client() as http:
            try:
                status = http.get("/healthz", headers={"X-Padding": "a" * 200_000}).status_code
            except httpx.TransportError:
                status = 0  # the connection was closed on us: also a refusal
            assert status == 0 or 400 <= status < 500
        with server.client() as http:
            assert http.get("/healthz").status_code == 200
    finally:
        server.stop()
