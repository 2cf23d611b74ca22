"""Choosing the SecAgg+ neighbourhood size k and threshold t for a cohort.

Each client secret-shares its self-mask seed and its mask key with its k
neighbours in a public random k-regular graph; any t of them reconstruct.

The rules, following Bell et al., "Secure Single-Server Aggregation with
(Poly)Logarithmic Overhead" (CCS 2020), section 4, made concrete:

* start from ``k = 2 * ceil(log2 n)`` (even, at least 4; a complete graph,
  plain SecAgg, once that reaches ``n - 1``);
* ``t = floor(k/2) + 1`` (an honest majority of the neighbourhood), or, hardened
  against colluding clients, ``t = ceil(2k/3)``;
* privacy: an honest client's neighbours reveal at most one of its two secrets
  each, so the server learns both only if ``2t <= k + c`` where ``c`` is the
  number of corrupted neighbours. We require ``n * P[Bin(k, gamma) >= 2t - k]``
  and ``n * P[Bin(k, gamma) >= t]`` below ``2^-security_bits`` (40 by default);
* liveness: a client's secrets are lost if fewer than t of its k neighbours
  survive, so we require ``n * P[Bin(k, delta) > k - t] <= max_abort_probability``;
* k grows in steps of 2 until both hold. Privacy is a requirement: if even the
  complete graph cannot meet it the configuration is refused with
  :class:`~blindsum.errors.ConfigError`. Liveness is a target: small cohorts get
  the complete graph even when their abort probability stays above it
  (:meth:`SecAggParams.abort_probability` says how likely an abort is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from blindsum.crypto.hazmat.prg import PrgAlgorithm
from blindsum.crypto.limits import MIN_COHORT
from blindsum.errors import ConfigError

__all__ = ["MIN_COHORT", "SecAggParams"]



def _binomial_tail(k: int, p: float, at_least: int) -> float:
    """``P[Bin(k, p) >= at_least]``, exactly."""
    if at_least <= 0:
        return 1.0
    return sum(math.comb(k, i) * p**i * (1 - p) ** (k - i) for i in range(at_least, k + 1))


def _threshold_for(k: int, hardened: bool) -> int:
    return math.ceil(2 * k / 3) if hardened else k // 2 + 1


@dataclass(frozen=True)
class SecAggParams:
    """The public parameters of one SecAgg+ round.

    Attributes:
        num_clients: cohort size n (clients invited to the round).
        neighbours: k, the degree of the neighbour graph (``n - 1``: complete graph).
        threshold: t, shares needed to reconstruct a secret.
        min_survivors: fewest inputs a published sum may contain (derived: t + 1, since each
            survivor needs t surviving neighbours to hold shares of its secrets).
        bits: word size of the ring, 32 or 64.
        prg: the keystream used to expand masks.
    """

    num_clients: int
    neighbours: int
    threshold: int
    min_survivors: int
    bits: int = 32
    prg: PrgAlgorithm = PrgAlgorithm.AES256_CTR

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ConfigError("unsafe SecAgg parameters: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        n, k, t = self.num_clients, self.neighbours, self.threshold
        problems = []
        if n < MIN_COHORT:
            problems.append(f"a cohort needs at least {MIN_COHORT} clients, got {n}")
        if not (2 <= k <= n - 1):
            problems.append(f"neighbours must be in 2..{n - 1}, got {k}")
        elif k != n - 1 and k % 2:
            problems.append("a k-regular ring graph needs even k (or k = n - 1)")
        if not (k // 2 < t <= k):
            problems.append(f"threshold must satisfy k/2 < t <= k (k={k}), got {t}")
        if not (max(t, MIN_COHORT) <= self.min_survivors <= n):
            problems.append("min_survivors must be at least the threshold and at most n")
        if self.bits not in (32, 64):
            problems.append("bits must be 32 or 64")
        return problems

    @classmethod
    def derive(
        cls,
        num_clients: int,
        *,
        dropout_rate: float = 0.1,
        corruption_rate: float = 0.0,
        hardened: bool = False,
        security_bits: int = 40,
        max_abort_probability: float = 0.01,
        bits: int = 32,
        prg: PrgAlgorithm = PrgAlgorithm.AES256_CTR,
    ) -> SecAggParams:
        """The smallest safe (k, t) for ``num_clients`` (see the module docstring)."""
        n = num_clients
        if n < MIN_COHORT:
            raise ConfigError(f"a cohort needs at least {MIN_COHORT} clients, got {n}")
        if not (0 <= dropout_rate < 1 and 0 <= corruption_rate < 1):
            raise ConfigError("dropout_rate and corruption_rate must be in [0, 1)")
        k = max(4, 2 * math.ceil(math.log2(n)))
        while True:
            k = min(k, n - 1)
            t = _threshold_for(k, hardened)
            leak = n * max(_binomial_tail(k, corruption_rate, 2 * t - k),
                           _binomial_tail(k, corruption_rate, t))
            abort = n * _binomial_tail(k, dropout_rate, k - t + 1)
            safe = leak <= 2.0**-security_bits
            # Liveness is a target, privacy a requirement: once the graph is
            # complete, a safe configuration is returned even if rounds will
            # abort more often than max_abort_probability.
            if safe and (abort <= max_abort_probability or k == n - 1):
                return cls(num_clients=n, neighbours=k, threshold=t,
                           min_survivors=max(t + 1, MIN_COHORT), bits=bits, prg=prg)
            if k == n - 1:
                raise ConfigError(
                    f"no neighbourhood keeps inputs private for n={n} with "
                    f"corruption_rate={corruption_rate} at 2^-{security_bits}: "
                    "lower the corruption rate or enlarge the cohort"
                )
            k += 2

    def abort_probability(self, dropout_rate: float) -> float:
        """Union bound on the chance that independent dropouts at ``dropout_rate`` abort a round."""
        k, t, n = self.neighbours, self.threshold, self.num_clients
        return min(1.0, n * _binomial_tail(k, dropout_rate, k - t + 1))
