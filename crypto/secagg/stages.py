"""Stage bookkeeping shared by the client and server state machines."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from blindsum.errors import BlindsumError, RoundStateError

__all__ = ["MESSAGE_STAGES", "Stage", "StageMachine"]

PAIR_MASK_PURPOSE = b"secagg-pair-mask"
ENVELOPE_PURPOSE = b"secagg-share-envelope"
SELF_MASK_DOMAIN = b"secagg/self-mask"
PAIR_MASK_DOMAIN = b"secagg/pair-mask"


class Stage(enum.Enum):
    """Where a round is. Both sides move forward only, or to ABORTED."""

    COMMIT_SEED = "commit-seed"
    ADVERTISE_KEYS = "advertise-keys"
    SHARE_KEYS = "share-keys"
    CHECK_SHARES = "check-shares"
    MASKED_INPUT = "masked-input"
    CONSISTENCY_CHECK = "consistency-check"
    UNMASK = "unmask"
    DONE = "done"
    ABORTED = "aborted"


MESSAGE_STAGES = tuple(s for s in Stage if s not in (Stage.DONE, Stage.ABORTED))
"""The stages in which every client sends one message: the round trips of a round."""


class StageMachine:
    """Holds the current stage; any error inside a stage aborts the round for good."""

    def __init__(self) -> None:
        self._stage = Stage.COMMIT_SEED
        self.abort_reason: str | None = None

    @property
    def stage(self) -> Stage:
        return self._stage

    def require(self, expected: Stage) -> None:
        """Raise :class:`RoundStateError` unless the round is in ``expected``."""
        if self._stage is not expected:
            raise RoundStateError(
                f"this step belongs to stage {expected.value!r} but the round is in "
                f"stage {self._stage.value!r}"
                + (f" (aborted: {self.abort_reason})" if self.abort_reason else "")
            )

    @contextmanager
    def step(
        self, expected: Stage, then: Stage | None = None, *, fatal: bool = True
    ) -> Iterator[None]:
        """Run one protocol step: refuse it out of stage; if ``fatal``, an error aborts.

        The server passes ``fatal=False`` when receiving one client's message:
        a hostile client's message is refused without ending everyone's round.
        """
        self.require(expected)
        try:
            yield
        except BlindsumError as exc:
            if fatal:
                self.abort(str(exc))
            raise
        if then is not None:
            self._stage = then

    def abort(self, reason: str) -> None:
        """Stop the round; every later step raises :class:`RoundStateError`."""
        if self._stage is not Stage.DONE:
            self._stage = Stage.ABORTED
            self.abort_reason = reason
