"""API test fixtures: the app on SQLite *and* on a real PostgreSQL server.

PostgreSQL is not optional: if it cannot be reached the tests fail with a
message saying how to start it (``.ci/run`` does). Point the tests at another
server with ``BLINDSUM_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio.from_thread
import httpx
import pytest

from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.crypto import base64url
from blindsum.crypto.enrollment import enrollment_payload
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes, sign

ADMIN_TOKEN = "admin-" + "x" * 40
POSTGRES_URL = os.environ.get("BLINDSUM_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> Iterator[str]:
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"blindsum_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc.__class__.__name__}); "
                    "start it (see .ci/run) or set BLINDSUM_TEST_POSTGRES_URL")
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    admin_token=ADMIN_TOKEN)


class ApiClient:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))``.

    Requests go through the real ASGI app and httpx, like a network client's,
    without a socket; the end-to-end tests run real uvicorn instead.
    """

    def __init__(self, app, portal) -> None:
        self.app = app
        self._portal = portal
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture
def api(settings: Settings) -> Iterator[ApiClient]:
    app = create_app(settings)
    with anyio.from_thread.start_blocking_portal() as portal:
        client = ApiClient(app, portal)
        yield client
        client.close()
    app.state.engine.dispose()


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


b64 = base64url.encode


FEDERATION = {
    "name": "hospitals",
    "mode": "secagg",
    "parameters": [{"name": "layer.lora_B", "shape": [8, 16]}, {"name": "head", "shape": [3]}],
    "min_clients": 3,
    "max_clients": 10,
}


@pytest.fixture
def federation(api: ApiClient, admin: dict[str, str]) -> dict:
    response = api.post("/v1/federations", json=FEDERATION, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def enroll(api: ApiClient, admin: dict[str, str]):
    """``enroll(federation_id) -> (client_id, token, identity_key)`` through invite + enroll."""

    def _enroll(federation_id: str, label: str = "site") -> tuple[int, str, object]:
        code = api.post(f"/v1/federations/{federation_id}/invites", json={"label": label},
                        headers=admin).json()["code"]
        key = generate_identity_key()
        body = {"invite_code": code, "identity_key": b64(identity_public_bytes(key)),
                "proof": b64(sign(key, enrollment_payload(federation_id, code))), "label": label}
        response = api.post(f"/v1/federations/{federation_id}/enroll", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return data["client_id"], data["token"], key

    return _enroll
