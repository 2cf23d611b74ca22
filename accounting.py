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
from typing import Literal, get_args

import numpy as np

from blindsum.errors import ConfigError

__all__ = ["ACCOUNTANTS", "CLIENT_LEVEL_ACCOUNTING", "RDP_ORDERS", "AccountantName",
           "client_level_epsilon", "ddg_rdp", "distributed_dg_epsilon", "epsilon_for",
           "noise_for", "over_reported", "rdp_epsilon", "under_reported"]

AccountantName = Literal["prv", "rdp"]
ACCOUNTANTS: tuple[str, ...] = get_args(AccountantName)
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
    "client-level epsilon bounds the distributed discrete Gaussian as Kairouz, Liu and "
    "Steinke (2021, Proposition 14) do, with the tau term for a sum of discrete Gaussians, "
    "in RDP over every round the client contributed to, without amplification by sampling: "
    "the server chooses each round's participants and publishes its contributors, so "
    "whether a client's data is in a released sum is never hidden")
"""What the ledger, the SDK and the report say about client-level accounting (one source)."""

RDP_ORDERS = tuple(range(2, 257))
"""Integer Renyi orders searched when converting RDP to (epsilon, delta)."""


def ddg_rdp(order: int, *, sigma: float, clients: int, l2: float, l1: float,
            dim: int) -> float:
    """RDP at ``order`` of one round of the distributed discrete Gaussian: ``clients`` honest
    clients each add N_Z(0, sigma^2) per coordinate (integer units) to a sum in which one
    client's integer vector has L2 norm at most ``l2`` and L1 norm at most ``l1``, over
    ``dim`` coordinates (Kairouz et al. 2021, Proposition 14, with tau from Theorem 1)."""
    tau = 10.0 * sum(math.exp(-2.0 * (math.pi * sigma) ** 2 * k / (k + 1))
                     for k in range(1, clients))
    scale = math.sqrt(clients) * sigma
    a, b = l2 / scale, l1 / scale
    return min(order / 2 * a**2 + tau * dim,
               order / 2 * (a**2 + 2 * b * tau + tau**2 * dim),
               order / 2 * (a + math.sqrt(dim) * tau) ** 2)


def rdp_epsilon(rdp: dict[int, float], delta: float) -> float:
    """(epsilon, delta) from RDP values by order (Canonne, Kamath and Steinke 2020, Prop. 12,
    the conversion dp-accounting uses), at the best order; never negative."""
    if any(math.isnan(value) for value in rdp.values()):
        return math.inf  # unknown is never small (max(0, nan) would read as 0)
    best = min(value + math.log1p(-1 / order) - (math.log(delta) + math.log(order)) / (order - 1)
               for order, value in rdp.items())
    return max(0.0, best)


def distributed_dg_epsilon(rounds: list[dict[str, float]], delta: float) -> float:
    """Client-level epsilon after the distributed-DP rounds a client contributed to, each
    given by its ``sigma``, ``clients``, ``l2``, ``l1`` and ``dim`` (see :func:`ddg_rdp`),
    composed in RDP at sampling rate 1 (:data:`CLIENT_LEVEL_ACCOUNTING` says why)."""
    if not rounds:
        return 0.0
    try:
        terms = [(float(r["sigma"]), int(r["clients"]), float(r["l2"]), float(r["l1"]),
                  int(r["dim"])) for r in rounds]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"incomplete distributed-DP round for accounting: {exc}") from exc
    for sigma, clients, l2, l1, dim in terms:
        if not (sigma > 0 and clients >= 1 and dim >= 1 and 0 <= l2 < math.inf
                and 0 <= l1 < math.inf and sigma < math.inf):
            raise ConfigError("a distributed-DP round needs sigma > 0, at least one client and "
                              "one coordinate, and finite non-negative sensitivities")
    rdp = {order: sum(ddg_rdp(order, sigma=sigma, clients=clients, l2=l2, l1=l1, dim=dim)
                      for sigma, clients, l2, l1, dim in terms) for order in RDP_ORDERS}
    epsilon = rdp_epsilon(rdp, delta)
    return epsilon if math.isfinite(epsilon) else math.inf


def client_level_epsilon(effective_noise_multiplier: float, rounds: int, delta: float,
                         accountant: str = "prv") -> float:
    """The continuous-Gaussian approximation of client-level epsilon after ``rounds``
    contributed rounds: one Gaussian step each at sampling rate 1. An approximation for
    discrete noise (not a proven bound: :func:`distributed_dg_epsilon` is); kept to show
    how close the two are."""
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
