"""Which custodians decrypt: the active set after each failed attempt, and its bound."""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.aggregator.custody_fusion import (
    MAX_DECRYPT_ATTEMPTS,
    check_in_range,
    next_active_set,
)
from blindsum.errors import ProtocolError, RoundStateError


def test_the_first_set_is_custodians_that_voted_then_the_rest() -> None:
    state = next_active_set({"voted": [2, 4, 3]}, holders=[1, 2, 3, 4], threshold=2)
    assert (state["attempt"], state["active"], state["tried"]) == (1, [2, 4], [2, 4])


def test_a_set_that_missed_its_deadline_keeps_who_answered_and_tries_someone_new() -> None:
    first = next_active_set({"voted": [1, 2, 3]}, holders=[1, 2, 3, 4], threshold=2)
    first["partials"] = {"2": "ab" * 32}  # 2 answered, 1 did not
    second = next_active_set(first, holders=[1, 2, 3, 4], threshold=2)
    assert (second["attempt"], second["active"], second["partials"]) == (2, [2, 3], {})


def test_attempts_are_bounded() -> None:
    state: dict = {"voted": [1, 2]}
    for _ in range(MAX_DECRYPT_ATTEMPTS):
        state = next_active_set(state, holders=[1, 2, 3, 4], threshold=2)
    with pytest.raises(RoundStateError, match="failed to decrypt"):
        next_active_set(state, holders=[1, 2, 3, 4], threshold=2)


def test_a_sum_beyond_what_clipped_contributors_can_give_is_refused() -> None:
    check_in_range(np.full(4, 0.4), contributors=1, clip_norm=1.0, value_error=1e-7)
    with pytest.raises(ProtocolError, match="out of range"):
        check_in_range(np.full(4, 0.6), contributors=1, clip_norm=1.0, value_error=1e-7)
    with pytest.raises(ProtocolError):
        check_in_range(np.array([np.nan]), contributors=3, clip_norm=1.0, value_error=1e-7)


def test_only_holders_of_the_key_are_named() -> None:
    state = next_active_set({"voted": [4, 2, 1]}, holders=[1, 2, 3], threshold=2)
    assert state["active"] == [1, 2]  # 4 voted but did not commit: it holds no share
