"""Fuzz every operation in /openapi.json with schemathesis: no input may cause a 5xx."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from blindsum.api.app import create_app
from blindsum.api.settings import Settings

from .conftest import ADMIN_TOKEN

_DATA = Path(tempfile.mkdtemp(prefix="blindsum-fuzz-"))
APP = create_app(Settings(data_dir=_DATA, admin_token=ADMIN_TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
# A bounded run in CI; BLINDSUM_FUZZ_EXAMPLES=200 for a deeper one.
@settings(max_examples=int(os.environ.get("BLINDSUM_FUZZ_EXAMPLES", "8")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_input_causes_a_server_error(case) -> None:
    for headers in ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
