"""A complete federation as the server sends it, for SDK tests with a mocked transport."""

from __future__ import annotations

from typing import Any

FEDERATION: dict[str, Any] = {
    "id": "f", "name": "fake", "mode": "secagg", "dimension": 1000, "spec_hash": "0" * 64,
    "parameters": [{"name": "b", "shape": [1000]}], "min_clients": 10, "max_clients": 20,
    "dropout_rate": 0.1, "corruption_rate": 0.0, "clip_norm": 1.0,
    "stage_timeout_seconds": 300.0, "epsilon_budget": 20.5, "delta": 1e-5,
    "update_rule": {"name": "fedavg"},
    "client_dp": {"noise_multiplier": 1.0, "sample_rate": 1.0},
    "created_at": "2026-12-01T00:00:00Z"}


def federation_json(**overrides: Any) -> dict[str, Any]:
    return {**FEDERATION, **overrides}
