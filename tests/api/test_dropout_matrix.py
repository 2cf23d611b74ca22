"""Dropouts at every SecAgg+ stage, through the service: up to the tolerated number the sum is
exact; one more and the round aborts with a stated reason and publishes nothing.
CKKS: fewer uploads than min_clients abort the same way."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import FEDERATION, b64
from .secagg_site import round_sites

N, DIM = 6, 24
STEPS = ("commit", "advertise", "share", "check", "mask", "sign", "unmask")
STAGE_OF = {"commit": "commit-seed", "advertise": "advertise-keys", "share": "share-keys",
            "check": "check-shares", "mask": "masked-input", "sign": "consistency-check",
            "unmask": "unmask"}


def _tolerated(protocol: dict) -> int:
    """Drops the protocol survives at ``step`` (n = 6: a complete neighbour graph)."""
    assert protocol["neighbours"] == N - 1
    # every survivor needs t surviving neighbours to hold its shares: t + 1 = min_survivors
    assert protocol["min_survivors"] == protocol["threshold"] + 1
    return N - protocol["min_survivors"]


@pytest.mark.parametrize("extra", [0, 1], ids=["tolerated", "one-more"])
@pytest.mark.parametrize("step", STEPS)
def test_drops_at_each_stage(api, admin, enroll, step, extra) -> None:
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}], max_clients=N)
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(N)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    rid = round_json["id"]
    sites = round_sites(api, fid, members, round_json)
    drops = _tolerated(round_json["protocol"]) + extra
    dropped = {s.id for s in sites[-drops:]} if drops else set()
    xs = {s.id: np.random.default_rng(s.id).uniform(-0.1, 0.1, DIM) for s in sites}
    contributors = set()
    for current in STEPS:
        stage = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()["stage"]
        if stage == "aborted":
            break
        gone = dropped if STEPS.index(current) >= STEPS.index(step) else set()
        for s in sites:
            if s.id in gone or (current != "commit" and s.id in _out(s, sites, step, dropped,
                                                                          current)):
                continue
            if current == "mask":
                s.mask(xs[s.id])
                contributors.add(s.id)
            else:
                getattr(s, current)()
        now = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()["stage"]
        if now == STAGE_OF[current]:  # still waiting for the dropped: the deadline (here, the
            api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin)  # admin) ends it
    final = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()
    result = api.get(f"/v1/federations/{fid}/rounds/{rid}/result/sum", headers=admin)
    if extra == 0:
        assert final["stage"] == "closed", final["abort_reason"]
        assert set(final["contributors"]) == contributors
        total = np.frombuffer(result.content, dtype="<f8")
        expected = np.sum([xs[c] for c in contributors], axis=0)
        resolution = sites[0].machine.context.codec.resolution
        assert np.max(np.abs(total - expected)) <= len(contributors) * resolution
    else:
        assert final["stage"] == "aborted", final
        assert final["abort_reason"].startswith("ThresholdNotMetError")
        assert final["contributors"] is None
        assert result.status_code == 409  # nothing partial is published


def _out(site, sites, step, dropped, current) -> set[int]:
    """Clients that dropped at an earlier stage than ``current`` are gone for good."""
    if STEPS.index(current) > STEPS.index(step):
        return dropped
    return set()


def test_ckks_round_below_min_clients_aborts_and_publishes_nothing(api, admin, enroll) -> None:
    from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
    from blindsum.crypto.ckks.params import CkksParams

    spec = dict(FEDERATION, mode="ckks", parameters=[{"name": "b", "shape": [16]}],
                max_clients=5, min_clients=3, custody="local")
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(4)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    context = api.get(f"/v1/federations/{fid}/ckks/public-context",
                      headers={"Authorization": f"Bearer {members[0][1]}"}).content
    encryptor = CkksEncryptor(CkksParams.for_clients(5), context)
    for client_id, token, key in members[:2]:  # two of four upload; min_clients is 3
        data = encryptor.encrypt(np.full(16, 0.1))
        signature = sign_upload(key, round_json["id"].encode(), client_id, data)
        assert api.put(f"/v1/federations/{fid}/rounds/{round_json['id']}/ckks-upload",
                       content=data, headers={"Authorization": f"Bearer {token}",
                                              "X-Blindsum-Signature": b64(signature)}
                       ).status_code == 202
    closed = api.post(f"/v1/federations/{fid}/rounds/{round_json['id']}/close",
                      headers=admin).json()
    assert closed["stage"] == "aborted" and closed["abort_reason"]
    assert api.get(f"/v1/federations/{fid}/rounds/{round_json['id']}/result/sum",
                   headers=admin).status_code == 409
