"""Discrete Gaussian noise far wider than float64 can hold at unit resolution, from a CSPRNG.

Noise flooding in threshold CKKS needs samples of standard deviation around 2^70 whose
every bit is random: a float64 of that size has a resolution of 2^18, and adding it to
a decryption share would leave the share's low bits, which carry the secret-dependent
noise, untouched. Following Micciancio and Walter ("Gaussian sampling over the integers:
efficient, generic, constant-time", CRYPTO 2017, section 3), a sample is combined from
narrow ones:

* base samples ``D_{Z, sigma0}`` with sigma0 = 2^26: a continuous Gaussian (Box-Muller
  on 53-bit uniforms from the ChaCha20 keystream) rounded to the nearest integer. Its
  probabilities differ from the discrete Gaussian's by a factor within ``1 + delta``,
  ``delta <= (t^2 + 1) / (24 sigma0^2)`` at ``t`` standard deviations, below 2^-46 for
  every sample within 12 sigma0 (farther ones are redrawn: about one in 10^32);
* ``x1 + k x2`` of two samples of width s is within max-log distance about ``2 epsilon``
  of ``D_{Z, s sqrt(1 + k^2)}`` when ``s >= sqrt(2) k eta_epsilon(Z)`` (their Theorem 3,
  with ``eta_epsilon(Z) <= sqrt(ln(2 + 2/epsilon) / pi) / sqrt(2 pi)`` in standard-
  deviation units); two such levels take 2^26 to beyond 2^72.

The samples never exist as integers: the result is ``x1 + k * x2`` with both parts
below 2^53, handed out as residues modulo the RNS primes (:mod:`.rns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.rns import RnsBasis

__all__ = ["BASE_SIGMA", "WideGaussian"]

BASE_SIGMA: Final = float(2**26)
_TAIL: Final = 12.0
_EPSILON_BITS: Final = 80
ETA: Final = math.sqrt(math.log(2 + 2 * 2.0**_EPSILON_BITS) / math.pi) / math.sqrt(2 * math.pi)
"""eta_epsilon(Z) for epsilon = 2^-80, as a standard deviation (about 1.69)."""


def _base(rng: RandomSource, count: int) -> np.ndarray:
    """``count`` samples of round(N(0, BASE_SIGMA^2)) as int64, all within 12 sigma0."""
    out = np.empty(0, dtype=np.int64)
    while out.size < count:
        need = count - out.size
        pairs = (need + 1) // 2 + 8
        words = np.frombuffer(rng.random_bytes(16 * pairs), dtype="<u8").reshape(pairs, 2)
        u1 = ((words[:, 0] >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53  # (0, 1]
        u2 = (words[:, 1] >> np.uint64(11)).astype(np.float64) * 2.0**-53
        radius = np.sqrt(-2.0 * np.log(u1)) * BASE_SIGMA
        angle = 2.0 * math.pi * u2
        z = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])
        z = z[np.abs(z) <= _TAIL * BASE_SIGMA]
        out = np.concatenate([out, np.rint(z).astype(np.int64)])
    return out[:count]


def _multiplier(ratio: float) -> int:
    """The smallest k with sqrt(1 + k^2) >= ratio."""
    return max(1, math.ceil(math.sqrt(max(ratio * ratio - 1, 0.0))))


@dataclass(frozen=True)
class WideGaussian:
    """Samples of width at least ``sigma`` (the width actually drawn is :attr:`width`)."""

    sigma: float

    def __post_init__(self) -> None:
        if not BASE_SIGMA < self.sigma < 2.0**90:
            raise ValueError("WideGaussian covers 2^26 < sigma < 2^90")

    @property
    def k1(self) -> int:
        """The first level's multiplier: the smallest reaching sigma, at most what Theorem 3
        allows at width sigma0."""
        most = int(BASE_SIGMA / (math.sqrt(2) * ETA))
        return min(most, _multiplier(self.sigma / BASE_SIGMA))

    @property
    def level1(self) -> float:
        return BASE_SIGMA * math.sqrt(1 + self.k1**2)

    @property
    def k2(self) -> int:
        """The second level's multiplier (0: one level was enough)."""
        if self.level1 >= self.sigma:
            return 0
        k = _multiplier(self.sigma / self.level1)
        if self.level1 < math.sqrt(2) * k * ETA:  # pragma: no cover - excluded by the range
            raise ValueError("sigma too wide for two levels")
        return k

    @property
    def width(self) -> float:
        """The standard deviation of the samples drawn (at least ``sigma``)."""
        return self.level1 * math.sqrt(1 + self.k2**2)

    def parts(self, rng: RandomSource, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` samples as ``(low, high)``: each sample is ``low + k2 * high``, int64."""
        b = _base(rng, 4 * count).reshape(4, count)
        k1 = np.int64(self.k1)
        return b[0] + k1 * b[1], b[2] + k1 * b[3]

    def residues(self, rng: RandomSource, basis: RnsBasis, shape: tuple[int, ...]) -> np.ndarray:
        """Samples of shape ``shape + (basis.n,)`` as residues ``shape + (L, N)``."""
        count = math.prod(shape) * basis.n
        low, high = self.parts(rng, count)
        low = basis.from_signed(low.reshape(*shape, basis.n))
        high = basis.from_signed(high.reshape(*shape, basis.n))
        return basis.add(low, basis.scalar_mul(high, self.k2))

