"""Every error class has a problem type; crashes leak nothing."""

from __future__ import annotations

import inspect

import blindsum.errors as errors
from blindsum.api.problems import PROBLEMS, problem_for


def test_every_blindsum_error_is_mapped() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.BlindsumError)]
    assert set(classes) == set(PROBLEMS)
    types = [p.type for p in PROBLEMS.values()]
    assert len(types) == len(set(types)), "problem types must be unique"
    for cls in classes:  # the SDK maps each type back to the very same class
        assert errors.error_class_for(cls.slug) is cls


def test_most_specific_problem_wins() -> None:
    assert problem_for(errors.ThresholdNotMetError("x")).type.endswith(":threshold-not-met")
    assert problem_for(errors.AuthError("x")).status == 401


def test_unexpected_exceptions_become_an_opaque_500(api, admin, federation, monkeypatch) -> None:
    from blindsum.aggregator import federations

    def explode(*args, **kwargs):
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(federations, "get_federation", explode)
    response = api.get(f"/v1/federations/{federation['id']}", headers=admin)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


def test_an_undeclared_query_parameter_is_refused_by_name(api, admin) -> None:
    """A misspelt long-poll (``wiat``) used to be ignored: the caller got an instant answer
    and no word about why. Bodies already refused unknown fields; queries now do too."""
    response = api.get("/v1/federations/x/rounds/current?after=x&wiat=25", headers=admin)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "urn:blindsum:problem:invalid-request"
    assert problem["errors"] == [{"loc": ["query", "wiat"],
                                  "msg": "this operation has no such query parameter"}]
    assert api.get("/healthz").status_code == 200
