"""Where a CKKS round is: one upload stage, then the terminal stages SecAgg+ rounds share."""

from __future__ import annotations

import enum

from blindsum.crypto.secagg.stages import Stage as SecAggStage

__all__ = ["MESSAGE_STAGES", "TERMINAL", "Stage"]


class Stage(enum.Enum):
    """The values are the names on the wire, in storage and in the OpenAPI (one source)."""

    UPLOAD = "upload"
    CLOSED = SecAggStage.CLOSED.value
    ABORTED = SecAggStage.ABORTED.value


TERMINAL = frozenset({Stage.CLOSED, Stage.ABORTED})
MESSAGE_STAGES = (Stage.UPLOAD,)
"""The stages in which every client sends one message."""
