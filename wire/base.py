"""The base of every wire model: unknown fields are refused, rows convert by attribute."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["WireModel", "describe"]


def describe(exc: ValidationError, limit: int = 5) -> str:
    """The first problems of a validation error, as ``field: message`` (no input values:
    an event or a setting may hold what should not be echoed to a log)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                     for e in exc.errors(include_input=False)[:limit])


class WireModel(BaseModel):
    """Frozen; unknown fields refused; ``model_validate(row)`` reads an ORM row's attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)
