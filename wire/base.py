"""The base of every wire model: unknown fields are refused, rows convert by attribute."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from blindsum.errors import ConfigError

__all__ = ["WireModel", "describe", "received"]

M = TypeVar("M", bound="WireModel")


def describe(exc: ValidationError, limit: int = 5) -> str:
    """The first problems of a validation error, as ``field: message`` (no input values:
    an event or a setting may hold what should not be echoed to a log)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                     for e in exc.errors(include_input=False)[:limit])


class WireModel(BaseModel):
    """Frozen; unknown fields refused; ``model_validate(row)`` reads an ORM row's attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True, from_attributes=True)


def received(model: type[M], data: Any, what: str) -> M:
    """``data`` (JSON the other side sent) as ``model``, or a :class:`ConfigError` naming the
    fields that do not fit: both sides share these definitions, so a misfit means their
    versions differ (or the other side is not honest)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"the server sent {what} this SDK cannot read ({describe(exc)}); "
                          "upgrade blindsum on one side") from None
