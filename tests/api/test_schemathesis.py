"""Fuzz every operation in /openapi.json with schemathesis and every one of its checks: no
server error, and every status, content type, header and body is the one the schema
declares; schema-valid requests are accepted and invalid ones refused. The one declared
exception (constraints across fields) is in ``schemathesis.toml``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

import blindsum
from blindsum.api.app import create_app
from blindsum.api.settings import Settings

from .conftest import ADMIN_TOKEN

pytestmark = pytest.mark.slow  # fuzzes every operation

CONFIG = SchemathesisConfig.from_path(str(Path(blindsum.__file__).parent / "schemathesis.toml"))
_DATA = Path(tempfile.mkdtemp(prefix="blindsum-fuzz-"))
APP = create_app(Settings(data_dir=_DATA, admin_token=ADMIN_TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@schema.parametrize()
# A bounded run by default; BLINDSUM_FUZZ_EXAMPLES=40 for the deeper one.
@settings(max_examples=int(os.environ.get("BLINDSUM_FUZZ_EXAMPLES", "10")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_check_passes_for_every_operation(case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


@schema.parametrize()
@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_without_credentials_nothing_fails_open(case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
