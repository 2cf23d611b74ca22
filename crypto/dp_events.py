"""The signed form of a DP event: what a client asserts it spent in one round.

Shared by the SDK (which signs) and the ledger (which verifies and stores the
exact bytes signed), so an auditor can re-verify every row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from blindsum.accounting import AccountantName
from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.signing import sign, verify_signature
from blindsum.errors import MalformedMessageError

__all__ = ["EVENT_FIELDS", "DPEvent", "event_payload", "sign_event", "verify_event"]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read true as 1; JSON Schema says no
        raise ValueError("expected a number, not a boolean")
    return value


_Number = BeforeValidator(_not_a_boolean)


@dataclass(frozen=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))
class DPEvent:
    """What one round of local DP-SGD spent, as the client asserts and signs it: the one
    shape of a DP event from the trainer to the wire, the ledger and the report."""

    mechanism: Literal["dp-sgd"]
    unit: Literal["example"]
    noise_multiplier: Annotated[float, _Number, Field(gt=0, le=1e4)]
    sample_rate: Annotated[float, _Number, Field(gt=0, le=1)]
    sampling: Literal["poisson"]
    steps: Annotated[int, _Number, Field(ge=1, le=10**7)]
    max_grad_norm: Annotated[float, _Number, Field(gt=0, le=1e6)]
    delta: Annotated[float, _Number, Field(gt=0, lt=1)]
    accountant: AccountantName
    epsilon_after: Annotated[float, _Number]

    @classmethod
    def from_json(cls, data: object) -> DPEvent:
        """Parse and check a JSON event (exactly its fields, each in range)."""
        if isinstance(data, DPEvent):
            return data
        if not isinstance(data, Mapping):
            raise MalformedMessageError("a DP event is a JSON object")
        try:
            return _ADAPTER.validate_python(dict(data))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors()[:5])
            raise MalformedMessageError(f"invalid DP event ({problems})") from None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def canonical(self) -> bytes:
        """Sorted-key compact JSON: the bytes the client signs and the ledger stores."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def history_entry(self) -> tuple[float, float, int]:
        """(noise_multiplier, sample_rate, steps), as the accountants compose them."""
        return (self.noise_multiplier, self.sample_rate, self.steps)


_ADAPTER = TypeAdapter(DPEvent)
EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(DPEvent))


def event_payload(federation_id: str, round_id: str, client_id: int, event_bytes: bytes) -> bytes:
    """What the client's identity key signs."""
    return canonical(b"blindsum/dp-event", federation_id, round_id, client_id, event_bytes)


def sign_event(identity_key: Ed25519PrivateKey, federation_id: str, round_id: str,
               client_id: int, event_bytes: bytes) -> bytes:
    """The client's signature over its canonical event (:func:`canonical_event`)."""
    return sign(identity_key, event_payload(federation_id, round_id, client_id, event_bytes))


def verify_event(public_key: bytes, signature: bytes, federation_id: str, round_id: str,
                 client_id: int, event_bytes: bytes) -> None:
    """Raise :class:`~blindsum.errors.InvalidSignatureError` unless ``signature`` is valid."""
    verify_signature(public_key, signature,
                     event_payload(federation_id, round_id, client_id, event_bytes))
