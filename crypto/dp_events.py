"""The signed form of a DP event: what a client asserts it spent in one round.

Shared by the SDK (which signs) and the ledger (which verifies and stores the
exact bytes signed), so an auditor can re-verify every row.
"""

from __future__ import annotations

import json
from typing import Any

from blindsum.crypto.hazmat.canonical import canonical

__all__ = ["EVENT_FIELDS", "canonical_event", "event_payload"]

EVENT_FIELDS = ("mechanism", "unit", "noise_multiplier", "sample_rate", "sampling", "steps",
                "max_grad_norm", "delta", "accountant", "epsilon_after")


def canonical_event(event: dict[str, Any]) -> bytes:
    """Sorted-key compact JSON of exactly :data:`EVENT_FIELDS`."""
    return json.dumps({k: event[k] for k in EVENT_FIELDS}, sort_keys=True,
                      separators=(",", ":")).encode()


def event_payload(federation_id: str, round_id: str, client_id: int, event_bytes: bytes) -> bytes:
    """What the client's identity key signs."""
    return canonical(b"blindsum/dp-event", federation_id, round_id, client_id, event_bytes)
