"""Stage bookkeeping shared by the client and server state machines."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from blindsum.errors import BlindsumError, RoundStateError

__all__ = ["JSON_STAGES", "MESSAGE_STAGES", "RELAY_STAGES", "TERMINAL", "Stage", "StageMachine"]

PAIR_MASK_PURPOSE = b"secagg-pair-mask"
ENVELOPE_PURPOSE = b"secagg-share-envelope"
SELF_MASK_DOMAIN = b"secagg/self-mask"
PAIR_MASK_DOMAIN = b"secagg/pair-mask"


class Stage(enum.Enum):
    """Where a round is. Both sides move forward only, or to ABORTED. The values are the
    names on the wire, in storage and in the OpenAPI: the one source for them."""

    COMMIT_SEED = "commit-seed"
    ADVERTISE_KEYS = "advertise-keys"
    SHARE_KEYS = "share-keys"
    CHECK_SHARES = "check-shares"
    MASKED_INPUT = "masked-input"
    CONSISTENCY_CHECK = "consistency-check"
    UNMASK = "unmask"
    CLOSED = "closed"
    ABORTED = "aborted"


TERMINAL = frozenset({Stage.CLOSED, Stage.ABORTED})
"""Where a round ends (the values are shared with :class:`blindsum.crypto.ckks.stages.Stage`)."""

MESSAGE_STAGES = tuple(s for s in Stage if s not in TERMINAL)
"""The stages in which every client sends one message: the round trips of a round."""

JSON_STAGES = tuple(s for s in MESSAGE_STAGES if s is not Stage.MASKED_INPUT)
"""The stages whose message is JSON (the masked input is a binary upload)."""

RELAY_STAGES = MESSAGE_STAGES[:-1]
"""The stages whose messages the server relays to the next stage (unmask ends the round)."""


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
        if self._stage is not Stage.CLOSED:
            self._stage = Stage.ABORTED
            self.abort_reason = reason
