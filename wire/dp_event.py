"""A DP event: what one round of local DP-SGD spent, as the client asserts and signs it.

The one shape of the event from the trainer to the wire, the ledger and the report
(:mod:`blindsum.crypto.dp_events` signs and verifies its canonical bytes).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from blindsum.accounting import AccountantName
from blindsum.errors import MalformedMessageError
from blindsum.wire.base import describe
from blindsum.wire.types import Float, Int

__all__ = ["EVENT_FIELDS", "DPEvent"]


@dataclass(frozen=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))
class DPEvent:
    """What one round of local DP-SGD spent, as the client asserts and signs it: the one
    shape of a DP event from the trainer to the wire, the ledger and the report."""

    mechanism: Literal["dp-sgd"]
    unit: Literal["example"]
    noise_multiplier: Annotated[Float, Field(gt=0, le=1e4)]
    sample_rate: Annotated[Float, Field(gt=0, le=1)]
    sampling: Literal["poisson"]
    steps: Annotated[Int, Field(ge=1, le=10**7)]
    max_grad_norm: Annotated[Float, Field(gt=0, le=1e6)]
    delta: Annotated[Float, Field(gt=0, lt=1)]
    accountant: AccountantName
    epsilon_after: Float

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
            raise MalformedMessageError(f"invalid DP event ({describe(exc)})") from None

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
