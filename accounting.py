"""Privacy accounting shared by clients (to refuse overspending) and the server (to audit).

A leaf module like :mod:`blindsum.errors`: the client's accountant and the
server's ledger call the very same functions, so their numbers can only differ
if the reported event differs. PRV (Gopi et al. 2021) is the default; RDP is
the conservative alternative; Gaussian DP is not offered (it underestimates).
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np

from blindsum.errors import ConfigError

__all__ = ["ACCOUNTANTS", "CLIENT_LEVEL_ACCOUNTING", "client_level_epsilon", "epsilon_for",
           "noise_for", "over_reported", "under_reported"]

ACCOUNTANTS = ("prv", "rdp")
MISMATCH_ABSOLUTE = 0.05
MISMATCH_RELATIVE = 0.02
"""Tolerance between a reported and a recomputed epsilon: above the PRV accountant's error
(its ``eps_error`` is 0.01 by default) and the PRV/RDP gap on one history."""
_ACCOUNTING_LOCK = threading.Lock()


def epsilon_for(history: list[tuple[float, float, int]], delta: float,
                accountant: str = "prv") -> float:
    """Epsilon at ``delta`` after all (noise_multiplier, sample_rate, steps) in ``history``."""
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"accountant must be one of {ACCOUNTANTS} (GDP underestimates epsilon "
                          "and is not offered)")
    if not history:
        return 0.0
    from opacus.accountants import PRVAccountant, RDPAccountant

    acc = PRVAccountant() if accountant == "prv" else RDPAccountant()
    acc.history = [(float(s), float(q), int(t)) for s, q, t in history]
    # Edge cases (q = 1, tiny noise) warn from numpy and opacus; the result is still right or
    # infinite. warnings.catch_warnings is process-global, hence the lock.
    with _ACCOUNTING_LOCK, warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            epsilon = float(acc.get_epsilon(delta=delta))
        except (ValueError, OverflowError, ZeroDivisionError, MemoryError):
            return math.inf
    return epsilon if math.isfinite(epsilon) else math.inf  # NaN must never pass a check


CLIENT_LEVEL_ACCOUNTING = (
    "client-level epsilon composes one Gaussian mechanism (the round's effective noise "
    "multiplier) for every round the client contributed to, without amplification by "
    "sampling: the server chooses each round's participants and publishes its contributors, "
    "so whether a client's data is in a released sum is never hidden")
"""What the ledger, the SDK and the report say about client-level accounting (one source)."""


def client_level_epsilon(effective_noise_multiplier: float, rounds: int, delta: float,
                         accountant: str = "prv") -> float:
    """Client-level epsilon of distributed DP after contributing to ``rounds`` rounds.

    Each contributed round is one Gaussian step at sampling rate 1
    (:data:`CLIENT_LEVEL_ACCOUNTING` says why); rounds a client did not contribute to cost
    it nothing, since their sums do not depend on its data. Client sampling still thins
    the cohort for utility; it is not counted as privacy amplification."""
    return epsilon_for([(effective_noise_multiplier, 1.0, rounds)] if rounds else [],
                       delta, accountant)


def under_reported(reported: float, recomputed: float) -> bool:
    """Whether a client's reported epsilon is below the recomputed one by more than the
    accountants' error allows: the only disagreement that can under-state a spend."""
    return recomputed - reported > max(MISMATCH_ABSOLUTE, MISMATCH_RELATIVE * recomputed)


def over_reported(reported: float, recomputed: float) -> bool:
    """Whether a client reported more than the server can recompute (information, not an
    alarm: an honest client that trained and then dropped before its event was recorded)."""
    return reported - recomputed > max(MISMATCH_ABSOLUTE, MISMATCH_RELATIVE * recomputed)


def noise_for(epsilon: float, delta: float, sample_rate: float, steps: int,
              accountant: str = "prv", tolerance: float = 1e-3) -> float:
    """The smallest noise multiplier whose epsilon after ``steps`` is at most ``epsilon``."""
    if epsilon <= 0 or steps < 1:
        raise ConfigError("need epsilon > 0 and at least one step")
    lo, hi = 0.05, 1.0
    while epsilon_for([(hi, sample_rate, steps)], delta, accountant) > epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ConfigError("no noise multiplier below 10^4 reaches that epsilon")
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if epsilon_for([(mid, sample_rate, steps)], delta,
                                          accountant) > epsilon else (lo, mid)
    return hi
