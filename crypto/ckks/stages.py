"""Where a CKKS round is. Under local custody: one upload stage. Under threshold custody
the round makes its own key first (:mod:`.threshold.ceremony`) and ends with the
custodians' partial decryptions. Then the terminal stages SecAgg+ rounds share."""

from __future__ import annotations

import enum

from blindsum.crypto.secagg.stages import Stage as SecAggStage

__all__ = ["MESSAGE_STAGES", "TERMINAL", "THRESHOLD_STAGES", "Stage"]


class Stage(enum.Enum):
    """The values are the names on the wire, in storage and in the OpenAPI (one source)."""

    KEY_COMMIT = "key-commit"
    KEY_REVEAL = "key-reveal"
    KEY_CONFIRM = "key-confirm"
    UPLOAD = "upload"
    AGREE = "agree"
    DECRYPT = "decrypt"
    CLOSED = SecAggStage.CLOSED.value
    ABORTED = SecAggStage.ABORTED.value


TERMINAL = frozenset({Stage.CLOSED, Stage.ABORTED})
MESSAGE_STAGES = (Stage.UPLOAD,)
"""Local custody: the stages in which every client sends one message."""
THRESHOLD_STAGES = (Stage.KEY_COMMIT, Stage.KEY_REVEAL, Stage.KEY_CONFIRM, Stage.UPLOAD,
                    Stage.AGREE, Stage.DECRYPT)
"""Threshold custody: a round's stages in order, before it closes or aborts."""
