"""The privacy ledger over HTTP: signed events, the server's own epsilon, budget refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blindsum.accounting import epsilon_for
from blindsum.crypto.dp_events import event_payload
from blindsum.crypto.hazmat.signing import sign

from .conftest import FEDERATION, b64
from .secagg_site import round_sites


def _event(noise=1.0, q=0.01, steps=100, eps=None, delta=1e-5) -> dict:
    if eps is None:
        eps = epsilon_for([(noise, q, steps)], delta)
    return {"mechanism": "dp-sgd", "unit": "example", "noise_multiplier": noise,
            "sample_rate": q, "sampling": "poisson", "steps": steps, "max_grad_norm": 1.0,
            "delta": delta, "accountant": "prv", "epsilon_after": eps}


def _report(api, fid, round_id, member, event, *, tamper=False):
    client_id, token, key = member
    body = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()  # the spec
    signature = sign(key, event_payload(fid, round_id, client_id, body))
    if tamper:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    return api.post(f"/v1/federations/{fid}/rounds/{round_id}/dp-event",
                    json={"event": event, "signature": b64(signature)},
                    headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def ledger_round(api, admin, enroll):
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [8]}], epsilon_budget=2.0)
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(3)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    return fid, round_json, members


def test_signed_event_is_recorded_with_the_servers_epsilon(api, ledger_round) -> None:
    fid, round_json, members = ledger_round
    response = _report(api, fid, round_json["id"], members[0], _event())
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["epsilon_recomputed"] == pytest.approx(epsilon_for([(1.0, 0.01, 100)], 1e-5))
    assert recorded["mismatch"] is False
    again = _report(api, fid, round_json["id"], members[0], _event())
    assert again.status_code == 201  # the same bytes again: idempotent
    other = _report(api, fid, round_json["id"], members[0], _event(steps=50))
    assert other.status_code == 409  # append-only: no rewriting history


def test_understated_epsilon_is_flagged(api, ledger_round) -> None:
    fid, round_json, members = ledger_round
    recorded = _report(api, fid, round_json["id"], members[1], _event(eps=0.01)).json()
    assert recorded["mismatch"] is True and recorded["epsilon_reported"] == 0.01


def test_overstated_epsilon_is_information_not_a_mismatch(api, admin, ledger_round) -> None:
    """Issue 12, item 7: an honest site that trained, then dropped before its event was
    recorded, reports more than the server recomputes; that used to be flagged as a
    mismatch (three of them in the demo's own report)."""
    fid, round_json, members = ledger_round
    honest = epsilon_for([(1.0, 0.01, 200)], 1e-5)  # it counts 100 steps the server never saw
    recorded = _report(api, fid, round_json["id"], members[2], _event(eps=honest)).json()
    assert recorded["mismatch"] is False
    report = api.get(f"/v1/federations/{fid}/privacy-report", headers=admin).json()
    entry = next(c for c in report["clients"] if c["client_id"] == members[2][0])
    assert entry["mismatches"] == 0 and entry["over_reports"] == 1
    # Those steps moved the model the client goes on from: the report keeps the larger,
    # signed figure rather than the server's, which never saw them.
    assert entry["epsilon"]["example"] == pytest.approx(honest)
    assert entry["worst_epsilon"] == pytest.approx(honest)


def test_forged_or_malformed_events_are_refused(api, ledger_round) -> None:
    fid, round_json, members = ledger_round
    forged = _report(api, fid, round_json["id"], members[0], _event(), tamper=True)
    assert forged.status_code == 422 and forged.json()["type"].endswith(":invalid-signature")
    gdp = dict(_event(), accountant="gdp")
    refused = _report(api, fid, round_json["id"], members[0], gdp)  # the schema says prv|rdp
    assert refused.status_code == 422 and refused.json()["type"].endswith(":invalid-request")
    wrong_delta = _event(delta=1e-3)
    assert _report(api, fid, round_json["id"], members[0], wrong_delta).status_code == 409


def test_client_over_budget_is_recorded_then_its_uploads_are_refused(
        api, admin, ledger_round) -> None:
    fid, round_json, members = ledger_round
    sites = round_sites(api, fid, members, round_json)
    for s in sites:
        s.commit()
    for s in sites:
        s.advertise()
    for s in sites:
        s.share()
    for s in sites:
        s.check()
    over = _report(api, fid, round_json["id"], members[0], _event(noise=0.5, q=0.1, steps=500))
    assert over.status_code == 403 and over.json()["type"].endswith(":budget-exhausted")
    refused = sites[0].api.put(sites[0].url("secagg/masked-input"),
                               content=np.zeros(8, "<u4").tobytes(), headers=sites[0].headers)
    assert refused.status_code == 403
    sites[1].mask(np.full(8, 0.01))  # a client within budget still uploads
