"""Limits shared by both protection modes."""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_DIMENSION", "MIN_COHORT"]

MIN_COHORT: Final = 3
"""No sum of fewer than three inputs is ever published: a sum of one is the input
itself, and a sum of two reveals each input to the other contributor."""

MAX_DIMENSION: Final = 2**28
"""The largest update a federation may declare (268M values, 1 GiB as float32):
far above any LoRA adapter, and small enough that sizes, offsets and database
columns stay well inside 64-bit integers whatever the request says."""
