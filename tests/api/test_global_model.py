"""The global adapter: set once before training, moved by each closed round's average."""

from __future__ import annotations

import numpy as np

from .conftest import FEDERATION
from .secagg_site import round_sites

DIM = 16


def _round(api, admin, fid, members, xs) -> dict:
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
    for s, x in zip(sites, xs, strict=True):
        s.mask(x)
    for s in sites:
        s.sign()
    for s in sites:
        s.unmask()
    return api.get(f"/v1/federations/{fid}/rounds/{round_json['id']}", headers=admin).json()


def _global(api, headers, fid) -> tuple[np.ndarray, int]:
    response = api.get(f"/v1/federations/{fid}/global", headers=headers)
    assert response.status_code == 200, response.text
    return (np.frombuffer(response.content, dtype="<f8"),
            int(response.headers["X-Blindsum-Rounds-Applied"]))


def test_fedavg_global_moves_by_each_rounds_average(api, admin, enroll) -> None:
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}])
    fed = api.post("/v1/federations", json=spec, headers=admin).json()
    assert fed["update_rule"]["name"] == "fedavg"
    fid = fed["id"]
    members = [enroll(fid) for _ in range(3)]
    member = {"Authorization": f"Bearer {members[0][1]}"}
    start = np.linspace(-0.1, 0.1, DIM)
    bad = api.put(f"/v1/federations/{fid}/global", content=b"\0" * 8, headers=admin)
    assert bad.status_code == 422 and bad.json()["type"].endswith(":wrong-size")
    ok = api.put(f"/v1/federations/{fid}/global", content=start.astype("<f8").tobytes(),
                 headers=admin)
    assert ok.status_code == 204, ok.text
    assert _global(api, member, fid)[1] == 0
    rng = np.random.default_rng(1)
    expected = start.copy()
    for number in (1, 2):
        xs = [rng.uniform(-0.05, 0.05, DIM) for _ in members]
        assert _round(api, admin, fid, members, xs)["stage"] == "closed"
        expected += np.mean(xs, axis=0)
        values, applied = _global(api, member, fid)
        assert applied == number
        np.testing.assert_allclose(values, expected, atol=1e-6)
    late = api.put(f"/v1/federations/{fid}/global", content=start.astype("<f8").tobytes(),
                   headers=admin)
    assert late.status_code == 409


def test_fedadam_is_selectable_and_applied(api, admin, enroll) -> None:
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}],
                update_rule={"name": "fedadam", "learning_rate": 0.01})
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(3)]
    xs = [np.full(DIM, 0.02) for _ in members]
    _round(api, admin, fid, members, xs)
    values, applied = _global(api, admin, fid)
    # first Adam step: m = 0.1 g, v = 0.99 tau^2 + 0.01 g^2, step = lr m / (sqrt(v) + tau)
    g = 0.02
    step = 0.01 * 0.1 * g / (np.sqrt(0.99e-6 + 0.01 * g * g) + 1e-3)
    assert applied == 1
    np.testing.assert_allclose(values, step, rtol=1e-4)
