"""Stateful fuzzing: schemathesis chains operations (create, invite, enroll, open, send,
close...) in random sequences through the ASGI app; no sequence may cause a 5xx."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from blindsum.api.app import create_app
from blindsum.api.settings import Settings

from .conftest import ADMIN_TOKEN

APP = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="blindsum-stateful-")),
                          admin_token=ADMIN_TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
StateMachine = schema.as_state_machine()


class APIWorkflow(StateMachine):  # type: ignore[misc,valid-type]
    def get_call_kwargs(self, case):
        return {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}

    def validate_response(self, response, case, **kwargs):
        assert response.status_code < 500, (case.method, case.path, response.text[:300])


TestAPIWorkflow = APIWorkflow.TestCase
TestAPIWorkflow.settings = settings(
    max_examples=int(os.environ.get("BLINDSUM_FUZZ_EXAMPLES", "8")), stateful_step_count=6,
    deadline=None, suppress_health_check=list(HealthCheck))
