"""Federations, invites and enrollment over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from blindsum.crypto.enrollment import enrollment_payload
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes, sign

from .conftest import FEDERATION, b64


def test_health_and_readiness(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok",
                                                                    "blobs": "ok"}


def test_create_and_read_federation(api, admin, federation) -> None:
    assert federation["dimension"] == 8 * 16 + 3
    assert len(federation["spec_hash"]) == 64
    again = api.get(f"/v1/federations/{federation['id']}", headers=admin).json()
    assert again == federation


def test_unsafe_federation_is_a_422_problem(api, admin) -> None:
    body = dict(FEDERATION, min_clients=5, max_clients=4)
    response = api.post("/v1/federations", json=body, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:blindsum:problem:invalid-configuration"
    assert "min_clients" in problem["detail"]


def test_oversized_update_is_refused_before_any_arithmetic_on_it(api, admin) -> None:
    # Found by schemathesis: the product of large shapes overflowed a database column.
    body = dict(FEDERATION, parameters=[{"name": "w", "shape": [2**31] * 8}])
    response = api.post("/v1/federations", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert "limit" in response.json()["detail"]


def test_schema_violations_are_problems(api, admin) -> None:
    response = api.post("/v1/federations", json={"name": "x"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["type"] == "urn:blindsum:problem:invalid-request"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer bsc_" + "A" * 43}])
def test_admin_endpoints_refuse_bad_credentials_identically(api, headers) -> None:
    response = api.post("/v1/federations", json=FEDERATION, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"type": "urn:blindsum:problem:unauthorized",
                               "title": "Invalid credentials", "status": 401,
                               "instance": "/v1/federations"}


def test_enrollment_gives_a_token_that_identifies_the_client(api, federation, enroll) -> None:
    fid = federation["id"]
    client_id, token, key = enroll(fid)
    assert token.startswith("bsc_") and len(token) == 4 + 43
    me = api.get(f"/v1/federations/{fid}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["client_id"] == client_id
    assert me.json()["identity_key"] == b64(identity_public_bytes(key))


def _enroll_body(fid: str, code: str, key=None) -> dict:
    key = key or generate_identity_key()
    return {"invite_code": code, "identity_key": b64(identity_public_bytes(key)),
            "proof": b64(sign(key, enrollment_payload(fid, code)))}


def test_reused_unknown_and_foreign_invites_fail_identically(api, admin, federation) -> None:
    fid = federation["id"]
    code = api.post(f"/v1/federations/{fid}/invites", json={}, headers=admin).json()["code"]
    assert api.post(f"/v1/federations/{fid}/enroll", json=_enroll_body(fid, code)).status_code \
        == 201
    other = api.post("/v1/federations", json=FEDERATION, headers=admin).json()["id"]
    other_code = api.post(f"/v1/federations/{other}/invites", json={},
                          headers=admin).json()["code"]
    unknown = "bsi_" + "B" * 43
    bodies = [_enroll_body(fid, code), _enroll_body(fid, unknown), _enroll_body(fid, other_code)]
    responses = [api.post(f"/v1/federations/{fid}/enroll", json=b) for b in bodies]
    assert {r.status_code for r in responses} == {401}
    assert len({r.text for r in responses}) == 1


def test_expired_invite_fails_like_an_unknown_one(api, admin, federation, settings) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from blindsum.aggregator.models import InviteRow

    fid = federation["id"]
    code = api.post(f"/v1/federations/{fid}/invites", json={}, headers=admin).json()["code"]
    with api.app.state.sessions() as session:
        session.execute(update(InviteRow).values(expires_at=datetime.now(UTC) - timedelta(1)))
        session.commit()
    response = api.post(f"/v1/federations/{fid}/enroll", json=_enroll_body(fid, code))
    assert response.status_code == 401


def test_enrollment_needs_proof_of_the_identity_key(api, admin, federation) -> None:
    fid = federation["id"]
    code = api.post(f"/v1/federations/{fid}/invites", json={}, headers=admin).json()["code"]
    body = _enroll_body(fid, code)
    body["identity_key"] = b64(identity_public_bytes(generate_identity_key()))
    response = api.post(f"/v1/federations/{fid}/enroll", json=body)
    assert response.status_code == 401  # a wrong proof fails like a wrong invite
    assert response.json()["type"] == "urn:blindsum:problem:unauthorized"
    # the invite was not spent by the failed attempt
    assert api.post(f"/v1/federations/{fid}/enroll",
                    json=_enroll_body(fid, code)).status_code == 201


def test_same_identity_key_cannot_enroll_twice(api, admin, federation) -> None:
    fid = federation["id"]
    key = generate_identity_key()
    codes = [api.post(f"/v1/federations/{fid}/invites", json={}, headers=admin).json()["code"]
             for _ in range(2)]
    assert api.post(f"/v1/federations/{fid}/enroll",
                    json=_enroll_body(fid, codes[0], key)).status_code == 201
    second = api.post(f"/v1/federations/{fid}/enroll", json=_enroll_body(fid, codes[1], key))
    assert second.status_code == 422 and "already enrolled" in second.json()["detail"]


def test_roster_is_for_members_only(api, admin, federation, enroll) -> None:
    fid = federation["id"]
    ids = [enroll(fid)[0] for _ in range(3)]
    _, token, _ = enroll(fid)
    roster = api.get(f"/v1/federations/{fid}/roster", headers={"Authorization": f"Bearer {token}"})
    assert [c["client_id"] for c in roster.json()] == sorted([*ids, roster.json()[-1]["client_id"]])
    other = api.post("/v1/federations", json=FEDERATION, headers=admin).json()["id"]
    _, stranger, _ = enroll(other)
    response = api.get(f"/v1/federations/{fid}/roster",
                       headers={"Authorization": f"Bearer {stranger}"})
    assert response.status_code == 404
    listed = api.get(f"/v1/federations/{fid}/clients", headers=admin).json()
    assert len(listed) == 4


def test_unknown_routes_and_federations_are_problems(api, admin) -> None:
    response = api.get("/v1/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    missing = api.get("/v1/federations/does-not-exist", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["type"] == "urn:blindsum:problem:not-found"


def test_tokens_and_codes_are_stored_only_as_hashes(api, admin, federation, enroll) -> None:
    from sqlalchemy import text

    fid = federation["id"]
    _, token, _ = enroll(fid)
    with api.app.state.sessions() as session:
        rows = session.execute(text("SELECT token_hash FROM clients")).all()
    assert all(token.encode() not in bytes(r[0]) for r in rows)
    assert all(len(bytes(r[0])) == 32 for r in rows)
