"""Stateful fuzzing: schemathesis chains operations (create, invite, enroll, open, send,
close...) in random sequences through the ASGI app, and every response passes every
check (no 5xx, documented statuses and bodies, created resources found again)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from blindsum.api.app import create_app
from blindsum.api.settings import Settings

from .conftest import ADMIN_TOKEN
from .test_schemathesis import CONFIG

pytestmark = pytest.mark.slow  # fuzzes sequences of operations

APP = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="blindsum-stateful-")),
                          admin_token=ADMIN_TOKEN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
StateMachine = schema.as_state_machine()


class APIWorkflow(StateMachine):  # type: ignore[misc,valid-type]
    def get_call_kwargs(self, case):
        return {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}


TestAPIWorkflow = APIWorkflow.TestCase
TestAPIWorkflow.settings = settings(
    max_examples=int(os.environ.get("BLINDSUM_FUZZ_EXAMPLES", "8")), stateful_step_count=6,
    deadline=None, suppress_health_check=list(HealthCheck))
