"""Discrete Gaussian noise far wider than float64 can hold at unit resolution, from a CSPRNG.

Noise flooding in threshold CKKS needs samples of standard deviation around 2^70 whose
every bit is random: a float64 of that size has a resolution of 2^18, and adding it to
a decryption share would leave the share's low bits, which carry the secret-dependent
noise, untouched. Following Micciancio and Walter ("Gaussian sampling over the integers:
efficient, generic, constant-time", CRYPTO 2017, section 3), a sample is combined from
narrow ones:

* base samples ``D_{Z, sigma0}``: a continuous Gaussian (Box-Muller on 53-bit uniforms
  from the ChaCha20 keystream) rounded to the nearest integer. Its probabilities differ
  from the discrete Gaussian's by a factor within ``1 + delta``: rounding contributes
  ``(t^2 + 1) / (24 sigma0^2)`` at ``t`` standard deviations, and float64's relative
  error (about 2^-50 in Box-Muller) moves the rounding boundaries by ``2^-50 t sigma0``,
  a factor ``2^-50 t^2``: ``delta`` is below 2^-42 for every sample within 12 sigma0
  (farther ones are redrawn: about one in 10^32). Over Q samples, any event's
  probability changes by at most a factor ``exp(Q delta)`` (the max-log argument of
  Micciancio and Walter, section 2).
* ``x0 + k x1`` of two such samples is within max-log distance about ``2 epsilon`` of
  ``D_{Z, sigma0 sqrt(1 + k^2)}`` when ``sigma0 >= sqrt(2) k eta_epsilon(Z)`` (their
  Theorem 3, with ``eta_epsilon(Z) <= sqrt(ln(2 + 2/epsilon) / pi) / sqrt(2 pi)`` in
  standard-deviation units, epsilon = 2^-80): sigma0 about ``sqrt(2.4 sigma)`` (2^37 for
  sigma = 2^72) reaches any width in one step, from two base samples.

The samples never exist as integers: the result is ``x0 + k * x1`` with both parts
below 2^45, handed out as residues modulo the RNS primes (:mod:`.rns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.crypto.hazmat.rns import RnsBasis

__all__ = ["ETA", "MIN_BASE_SIGMA", "WideGaussian"]

MIN_BASE_SIGMA: Final = float(2**26)
_TAIL: Final = 12.0
_EPSILON_BITS: Final = 80
ETA: Final = math.sqrt(math.log(2 + 2 * 2.0**_EPSILON_BITS) / math.pi) / math.sqrt(2 * math.pi)
"""eta_epsilon(Z) for epsilon = 2^-80, as a standard deviation (about 1.69)."""


def _base(rng: RandomSource, count: int, sigma: float) -> np.ndarray:
    """``count`` samples of round(N(0, sigma^2)) as int64, all within 12 sigma (a sample
    beyond, about one in 10^32, is drawn again)."""
    pairs = (count + 1) // 2
    words = np.frombuffer(rng.random_bytes(16 * pairs), dtype="<u8").reshape(2, pairs)
    u = (words >> np.uint64(11)).astype(np.float64)
    u *= 2.0**-53
    radius = u[0]
    np.subtract(1.0, radius, out=radius)  # (0, 1]
    np.log(radius, out=radius)
    radius *= -2.0 * sigma * sigma
    np.sqrt(radius, out=radius)
    angle = u[1]
    angle *= 2.0 * math.pi
    z = np.empty(2 * pairs)
    np.cos(angle, out=z[:pairs])
    np.sin(angle, out=z[pairs:])
    z[:pairs] *= radius
    z[pairs:] *= radius
    np.rint(z, out=z)
    out = z[:count].astype(np.int64)
    wide = np.flatnonzero(np.abs(out) > _TAIL * sigma)
    if wide.size:  # pragma: no cover - probability about 1e-32 per sample
        out[wide] = _base(rng, wide.size, sigma)
    return out


def _multiplier(ratio: float) -> int:
    """The smallest k with sqrt(1 + k^2) >= ratio."""
    return max(1, math.ceil(math.sqrt(max(ratio * ratio - 1, 0.0))))


@dataclass(frozen=True)
class WideGaussian:
    """Samples ``x0 + k x1`` of width at least ``sigma`` (the width drawn is :attr:`width`)."""

    sigma: float

    def __post_init__(self) -> None:
        if not MIN_BASE_SIGMA < self.sigma < 2.0**80:
            raise ValueError("WideGaussian covers 2^26 < sigma < 2^80")

    @property
    def base_sigma(self) -> float:
        """sigma0: the narrowest base width for which Theorem 3 allows ``k = sigma/sigma0``,
        i.e. ``sigma0^2 >= sqrt(2) eta sigma``; at least 2^26."""
        return max(MIN_BASE_SIGMA, math.sqrt(math.sqrt(2) * ETA * self.sigma) * 1.001)

    @property
    def k(self) -> int:
        """The multiplier: the smallest with ``sigma0 sqrt(1 + k^2) >= sigma``."""
        k = _multiplier(self.sigma / self.base_sigma)
        if self.base_sigma < math.sqrt(2) * k * ETA:  # pragma: no cover - by construction
            raise ValueError("Theorem 3's condition fails")
        return k

    @property
    def width(self) -> float:
        """The standard deviation of the samples drawn (at least ``sigma``)."""
        return self.base_sigma * math.sqrt(1 + self.k**2)

    def parts(self, rng: RandomSource, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` samples as ``(x0, x1)``, int64 below 2^45: each sample is ``x0 + k x1``."""
        b = _base(rng, 2 * count, self.base_sigma).reshape(2, count)
        return b[0], b[1]

    def residues(self, rng: RandomSource, basis: RnsBasis, shape: tuple[int, ...]) -> np.ndarray:
        """Samples of shape ``shape + (basis.n,)`` as residues ``shape + (L, N)``."""
        count = math.prod(shape) * basis.n
        low, high = self.parts(rng, count)
        low = basis.from_signed(low.reshape(*shape, basis.n))
        high = basis.from_signed(high.reshape(*shape, basis.n))
        return basis.add(low, basis.scalar_mul(high, self.k))
