"""Migrations, the blob store and settings."""

from __future__ import annotations

import hashlib
import os

import pytest
from pydantic import ValidationError

from blindsum.aggregator.blobs import LocalBlobStore
from blindsum.aggregator.db import make_engine, upgrade
from blindsum.aggregator.models import Base
from blindsum.api.settings import Settings
from blindsum.errors import NotFoundError


def test_migrations_create_exactly_the_models_schema(database_url) -> None:
    """Alembic's autogenerate finds nothing to do after ``upgrade``: no drift."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_blobs_are_content_addressed_durable_and_idempotent(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(3 << 20)
    digest, size = store.put([data[:100], data[100:]], max_bytes=len(data))
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.get(digest) == data and store.exists(digest)
    assert store.put([data], max_bytes=len(data)) == (digest, size)
    assert list((tmp_path / "tmp").iterdir()) == []  # no temp files left behind


def test_oversized_blobs_are_refused_without_leftovers(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ValueError, match="exceeds"):
        store.put([b"x" * 10, b"y" * 10], max_bytes=15)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_blob_lookup_refuses_bad_digests(tmp_path) -> None:
    store = LocalBlobStore(tmp_path)
    for bad in ("../../etc/passwd", "ab", "G" * 64, "0" * 64):
        with pytest.raises(NotFoundError):
            store.get(bad)


def test_settings_come_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("BLINDSUM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BLINDSUM_PORT", "9001")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.port == 9001
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'blindsum.db'}"


def test_production_refuses_a_missing_or_weak_admin_token() -> None:
    with pytest.raises(ValidationError, match="BLINDSUM_ADMIN_TOKEN"):
        Settings(environment="prod")
    with pytest.raises(ValidationError):
        Settings(environment="prod", admin_token="short")
    with pytest.raises(ValidationError, match="BLINDSUM_CUSTODY_KEK"):
        Settings(environment="prod", admin_token="y" * 32)
    Settings(environment="prod", admin_token="y" * 32, custody_kek="A" * 43)


def test_dev_generates_an_admin_token_file_readable_only_by_its_owner(tmp_path) -> None:
    from blindsum.api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"))
    token_file = tmp_path / "admin-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert app.state.admin_token == token_file.read_text().strip()
    assert len(app.state.admin_token) >= 32
    app.state.engine.dispose()
