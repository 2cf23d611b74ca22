"""Privacy reports: schema-valid JSON whose numbers are the ledger's, and a safe HTML page."""

from __future__ import annotations

import base64

import dp_accounting
import jsonschema
import numpy as np
import pytest
from dp_accounting.pld import PLDAccountant

from blindsum.accounting import epsilon_for
from blindsum.aggregator.reports import schema

from .conftest import FEDERATION
from .secagg_site import SecAggSite
from .test_ledger import _event, _report

HOSTILE = "<script>alert('x')</script>"


@pytest.fixture
def reported_federation(api, admin, enroll):
    spec = dict(FEDERATION, parameters=[{"name": "b", "shape": [8]}], epsilon_budget=3.0)
    fid = api.post("/v1/federations", json=spec, headers=admin).json()["id"]
    members = [enroll(fid, label=HOSTILE if i == 2 else f"site{i}") for i in range(3)]
    roster: dict[int, bytes] = {}
    for number in (1, 2):
        round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
        if not roster:
            roster = {c["client_id"]: base64.urlsafe_b64decode(c["identity_key"] + "=")
                      for c in api.get(f"/v1/federations/{fid}/roster",
                                       headers={"Authorization": f"Bearer {members[0][1]}"}
                                       ).json()}
        for m in members[:2]:  # the third client never reports a DP event
            steps = 100 * number
            eps = epsilon_for([(1.0, 0.01, 100)] + ([(1.0, 0.01, 200)] if number == 2 else []),
                              1e-5)
            assert _report(api, fid, round_json["id"], m,
                           _event(steps=steps, eps=eps)).status_code == 201
        sites = [SecAggSite(api, fid, m, round_json, roster) for m in members]
        for step in ("commit", "advertise", "share", "check"):
            for s in sites:
                getattr(s, step)()
        for s in sites:
            s.mask(np.full(8, 0.01))
        for step in ("sign", "unmask"):
            for s in sites:
                getattr(s, step)()
    return fid, members


def test_json_report_is_schema_valid_and_matches_the_ledger(api, admin, reported_federation
                                                            ) -> None:
    fid, members = reported_federation
    report = api.get(f"/v1/federations/{fid}/privacy-report", headers=admin).json()
    jsonschema.validate(report, schema())
    assert report["schema"] == "blindsum.privacy-report/v1"
    assert [r["contributors"] for r in report["rounds"]] == [3, 3]
    expected = epsilon_for([(1.0, 0.01, 100), (1.0, 0.01, 200)], 1e-5)
    first = report["clients"][0]
    assert first["epsilon"]["example"] == pytest.approx(expected)
    # re-derived from first principles with dp-accounting's PLD (an independent library)
    pld = PLDAccountant()
    for steps in (100, 200):
        pld.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(
            0.01, dp_accounting.GaussianDpEvent(1.0)), steps))
    assert -0.005 <= first["epsilon"]["example"] - pld.get_epsilon(1e-5) <= 0.02
    assert first["budget_remaining"] == pytest.approx(3.0 - expected)
    assert [h["round_number"] for h in first["history"]] == [1, 2]
    assert all(h["signed_by_client"] and not h["mismatch"] for h in first["history"])
    silent = report["clients"][2]
    assert silent["rounds_without_dp_event"] == [1, 2] and silent["epsilon"]["example"] is None
    # a contributor with no DP accounting is unbounded, never "epsilon 0, full budget left"
    assert silent["epsilon_unbounded"] and silent["worst_epsilon"] is None
    assert silent["over_budget"] and silent["budget_remaining"] == 0.0
    assert report["worst_case"] == {"epsilon": None, "unbounded": True,
                                    "client_id": silent["client_id"]}
    assert not first["epsilon_unbounded"] and not first["over_budget"]
    assert "without amplification" in report["accounting"]["client_level"]
    assert "Proposition 14" in report["accounting"]["client_level"]
    assert any("Poisson" in c for c in report["caveats"])
    member = {"Authorization": f"Bearer {members[0][1]}"}
    assert api.get(f"/v1/federations/{fid}/privacy-report", headers=member).status_code == 200


def test_html_report_is_self_contained_and_escapes_labels(api, admin, reported_federation
                                                          ) -> None:
    fid, _ = reported_federation
    response = api.get(f"/v1/federations/{fid}/privacy-report", params={"format": "html"},
                       headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.count('class="client-series"') == 2  # two clients reported events
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no network


def test_html_report_renders_in_headless_chromium_with_the_plot(api, admin, tmp_path,
                                                                 reported_federation) -> None:
    import shutil
    import subprocess

    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is needed: apt-get install chromium (.ci/run installs it)"
    fid, _ = reported_federation
    page = tmp_path / "report.html"
    page.write_text(api.get(f"/v1/federations/{fid}/privacy-report", params={"format": "html"},
                            headers=admin).text)
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1000,1400",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 1400)
    pixels = np.asarray(image, dtype=np.int32)

    def near(rgb: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.array(rgb)).sum(axis=-1) < 60).sum())

    assert near((214, 39, 40)) > 100  # the epsilon lines (the two clients' coincide)
    assert near((176, 0, 32)) > 100  # the dashed budget line
