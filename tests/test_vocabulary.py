"""One stage vocabulary: the crypto stage enums are the only source of stage names."""

from __future__ import annotations

import ast
from pathlib import Path

import blindsum
from blindsum.aggregator import rounds
from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import secagg_driver
from blindsum.crypto.ckks import stages as ckks_stages
from blindsum.crypto.secagg import stages as secagg_stages

ROOT = Path(blindsum.__file__).parent
NAMES = {s.value for s in secagg_stages.Stage} | {s.value for s in ckks_stages.Stage}


def test_no_stage_name_is_spelled_outside_the_stage_enums() -> None:
    """A stage name written as a bare string anywhere in the service, the SDK or the demo
    is a second source that can drift (the SDK once said "closed" where the enum said
    "done")."""
    found = []
    for package in ("api", "aggregator", "client_sdk", "demo", "crypto"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "stages.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in NAMES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert found == []


def test_storage_and_sdk_order_derive_from_the_enums() -> None:
    assert rounds.STAGES["secagg"] == tuple(s.value for s in secagg_stages.MESSAGE_STAGES)
    assert rounds.STAGES["ckks"] == tuple(s.value for s in ckks_stages.MESSAGE_STAGES)
    assert secagg_driver.ORDER[-1] == rounds.CLOSED == ckks_stages.Stage.CLOSED.value
    assert {rounds.CLOSED, rounds.ABORTED} == {s.value for s in ckks_stages.TERMINAL}


def test_the_openapi_stage_parameters_list_exactly_the_stages_served(tmp_path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    enums = {}
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "stage":
                    enums[(method, path.rsplit("/", 1)[-1])] = parameter["schema"]["enum"]
    assert enums[("post", "{stage}")] == [s.value for s in secagg_stages.JSON_STAGES]
    assert enums[("get", "relay")] == [s.value for s in secagg_stages.RELAY_STAGES]
