"""A CKKS round over HTTP: enroll, open, encrypt, upload, close, download the sum."""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.params import CkksParams

from .conftest import FEDERATION, b64

CKKS = dict(FEDERATION, mode="ckks", parameters=[{"name": "b", "shape": [300]}], max_clients=5,
            custody="local")


@pytest.fixture
def ckks_round(api, admin, enroll):
    fid = api.post("/v1/federations", json=CKKS, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(4)]
    round_ = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    context = api.get(f"/v1/federations/{fid}/ckks/public-context",
                      headers={"Authorization": f"Bearer {members[0][1]}"}).content
    params = CkksParams.for_clients(5)
    return fid, round_, members, CkksEncryptor(params, context)


def _upload(api, fid, round_, member, encryptor, x):
    client_id, token, key = member
    data = encryptor.encrypt(x)
    signature = sign_upload(key, round_["id"].encode(), client_id, data)
    return api.put(f"/v1/federations/{fid}/rounds/{round_['id']}/ckks-upload", content=data,
                   headers={"Authorization": f"Bearer {token}",
                            "X-Blindsum-Signature": b64(signature),
                            "Content-Type": "application/octet-stream"})


def test_full_round_gives_the_sum(api, admin, ckks_round) -> None:
    fid, round_, members, encryptor = ckks_round
    assert round_["stage"] == "upload" and len(round_["participants"]) == 4
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, 300) for _ in members]
    for member, x in zip(members, xs, strict=True):
        response = _upload(api, fid, round_, member, encryptor, x)
        assert response.status_code == 202, response.text
    state = api.get(f"/v1/federations/{fid}/rounds/{round_['id']}", headers=admin).json()
    assert state["stage"] == "closed", state
    assert state["contributors"] == sorted(m[0] for m in members)
    raw = api.get(f"/v1/federations/{fid}/rounds/{round_['id']}/result/sum",
                  headers={"Authorization": f"Bearer {members[1][1]}"})
    total = np.frombuffer(raw.content, dtype="<f8")
    np.testing.assert_allclose(total, np.sum(xs, axis=0), atol=1e-6)
    assert raw.headers["x-blindsum-contributors"] == "4"
    average = api.get(f"/v1/federations/{fid}/rounds/{round_['id']}/result/average",
                      headers=admin)
    np.testing.assert_allclose(np.frombuffer(average.content, dtype="<f8"), total / 4)


def test_retry_is_idempotent_and_a_different_upload_is_refused(api, ckks_round) -> None:
    fid, round_, members, encryptor = ckks_round
    x = np.zeros(300)
    client_id, token, key = members[0]
    data = encryptor.encrypt(x)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream",
               "X-Blindsum-Signature": b64(sign_upload(key, round_["id"].encode(), client_id,
                                                        data))}
    url = f"/v1/federations/{fid}/rounds/{round_['id']}/ckks-upload"
    first = api.put(url, content=data, headers=headers)

    def blob_files() -> list[str]:
        root = api.app.state.blobs.root
        return sorted(p.name for p in root.rglob("*") if p.is_file())

    stored = blob_files()
    again = api.put(url, content=data, headers=headers)
    assert (first.json()["stored"], again.json()["stored"]) == (True, False)
    different = _upload(api, fid, round_, members[0], encryptor, x + 0.5)
    assert different.status_code == 409
    assert different.json()["type"] == "urn:blindsum:problem:protocol-violation"
    assert blob_files() == stored  # neither the retry nor the refused upload left bytes


def test_wrong_size_is_refused_before_reading(api, ckks_round) -> None:
    fid, round_, members, _ = ckks_round
    _, token, _ = members[0]
    response = api.put(f"/v1/federations/{fid}/rounds/{round_['id']}/ckks-upload",
                       content=b"x" * 100,
                       headers={"Authorization": f"Bearer {token}",
                                "X-Blindsum-Signature": b64(bytes(64))})
    assert response.status_code == 422
    assert response.json()["type"] == "urn:blindsum:problem:wrong-size"
    assert "exactly" in response.json()["detail"]


def test_oversized_upload_is_a_413(api, ckks_round) -> None:
    fid, round_, members, encryptor = ckks_round
    _, token, _ = members[0]
    data = encryptor.encrypt(np.zeros(300)) + b"\x00"
    response = api.put(f"/v1/federations/{fid}/rounds/{round_['id']}/ckks-upload", content=data,
                       headers={"Authorization": f"Bearer {token}",
                                "X-Blindsum-Signature": b64(bytes(64))})
    assert response.status_code == 413
    assert response.json()["type"] == "urn:blindsum:problem:payload-too-large"


def test_forged_signature_is_refused(api, ckks_round) -> None:
    fid, round_, members, encryptor = ckks_round
    _, token, _ = members[0]
    data = encryptor.encrypt(np.zeros(300))
    response = api.put(f"/v1/federations/{fid}/rounds/{round_['id']}/ckks-upload", content=data,
                       headers={"Authorization": f"Bearer {token}",
                                "X-Blindsum-Signature": b64(bytes(64))})
    assert response.status_code == 422
    assert response.json()["type"] == "urn:blindsum:problem:invalid-signature"


def test_too_few_uploads_abort_with_a_reason_and_no_result(api, admin, ckks_round) -> None:
    fid, round_, members, encryptor = ckks_round
    for member in members[:2]:
        assert _upload(api, fid, round_, member, encryptor, np.zeros(300)).status_code == 202
    closed = api.post(f"/v1/federations/{fid}/rounds/{round_['id']}/close", headers=admin).json()
    assert closed["stage"] == "aborted"
    assert "ThresholdNotMetError" in closed["abort_reason"]
    result = api.get(f"/v1/federations/{fid}/rounds/{round_['id']}/result/sum", headers=admin)
    assert result.status_code == 409
    late = _upload(api, fid, round_, members[2], encryptor, np.zeros(300))
    assert late.status_code == 409


def test_only_one_open_round_at_a_time(api, admin, ckks_round) -> None:
    fid, *_ = ckks_round
    response = api.post(f"/v1/federations/{fid}/rounds", headers=admin)
    assert response.status_code == 409 and "still in stage" in response.json()["detail"]


def test_clients_cannot_see_other_federations_rounds(api, admin, enroll, ckks_round) -> None:
    fid, round_, *_ = ckks_round
    other = api.post("/v1/federations", json=CKKS, headers=admin).json()["id"]
    _, stranger, _ = enroll(other)
    response = api.get(f"/v1/federations/{fid}/rounds/{round_['id']}",
                       headers={"Authorization": f"Bearer {stranger}"})
    assert response.status_code == 404


def test_single_custodian_mode_says_so_in_the_federation_and_its_report(api, admin,
                                                                         ckks_round) -> None:
    fid = ckks_round[0]
    assert api.get(f"/v1/federations/{fid}", headers=admin).json()["custody"] == "local"
    report = api.get(f"/v1/federations/{fid}/privacy-report", headers=admin).json()
    assert report["federation"]["custody"]["kind"] == "local"
    assert "single-custodian" in report["federation"]["threat_model"]
    html = api.get(f"/v1/federations/{fid}/privacy-report?format=html", headers=admin).text
    assert "single-custodian key custody" in html


def test_a_new_ckks_federation_defaults_to_threshold_custody(api, admin) -> None:
    spec = {k: v for k, v in CKKS.items() if k != "custody"}
    created = api.post("/v1/federations", json=spec, headers=admin).json()
    assert (created["custody"], created["custodians"], created["custodian_threshold"]) == (
        "threshold", 4, 2)
    report = api.get(f"/v1/federations/{created['id']}/privacy-report", headers=admin).json()
    assert report["federation"]["custody"] == {"kind": "threshold", "custodians": 4,
                                               "threshold": 2, "set_quorum": 3}
    refused = api.get(f"/v1/federations/{created['id']}/ckks/public-context", headers=admin)
    assert refused.status_code == 404  # no federation-wide key exists to hand out
