"""Client-level distributed DP for SecAgg: the distributed discrete Gaussian (DDGauss).

Kairouz, Liu and Steinke, "The Distributed Discrete Gaussian Mechanism for
Federated Learning with Secure Aggregation" (ICML 2021). Each client

1. clips its whole update to L2 norm ``c`` and scales it by ``1/gamma``;
2. rotates it with a randomized Hadamard transform (random signs from the public
   round seed, then the normalized Walsh-Hadamard transform), which spreads
   the norm evenly so no coordinate is large enough to wrap the modulus;
3. rounds it to integers stochastically, again until its norm is at most the
   conditional-rounding bound (so the sensitivity is bounded);
4. adds discrete Gaussian noise of variance ``sigma_client^2`` per coordinate,
   so that the *honest* survivors alone (at least ``min_survivors - colluders``: the
   colluders may subtract their own noise) carry the stated ``sigma``;
5. reduces mod 2^bits and masks as usual.

The server unmasks the modular sum, centres it, rotates back and multiplies by
``gamma``. Randomness (rounding, noise) comes from :class:`Csprng`
(ChaCha20 under a 256-bit OS key). The sampler is the vectorized rejection
sampler of Canonne, Kamath and Steinke (2020) over a discrete Laplace proposal,
in float64 arithmetic (not the exact rational one).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from blindsum.crypto.clipping import clip_to_norm
from blindsum.crypto.hazmat.csprng import Csprng, RandomSource
from blindsum.crypto.hazmat.prg import PrgAlgorithm, mask_from_seed
from blindsum.errors import ConfigError

__all__ = [
    "DDGParams",
    "decode_sum",
    "discrete_gaussian",
    "encode",
    "hadamard",
    "rotation_signs",
]

_SIGNS_DOMAIN = b"blindsum/ddg/rotation-signs"
_TAIL_SIGMAS = 8.0  # the noise of the modular sum stays within 8 standard deviations of zero
_WRAP_LOG2_PROBABILITY = -40  # chance that coherent signals push a coordinate past the bound


def hadamard(x: np.ndarray) -> np.ndarray:
    """The normalized Walsh-Hadamard transform along the last axis (length a power of 2).

    Orthogonal and its own inverse, O(d log d).
    """
    y = np.array(x, dtype=np.float64, copy=True)
    n = y.shape[-1]
    if n & (n - 1):
        raise ValueError("the length must be a power of two")
    h = 1
    while h < n:
        y = y.reshape(-1, n // (2 * h), 2, h)
        a, b = y[:, :, 0, :].copy(), y[:, :, 1, :].copy()
        y[:, :, 0, :], y[:, :, 1, :] = a + b, a - b
        h *= 2
    return y.reshape(x.shape) / math.sqrt(n)


def rotation_signs(round_seed: bytes, n: int) -> np.ndarray:
    """Public random signs (+-1) for the round's rotation, from its seed."""
    seed = hashlib.sha256(_SIGNS_DOMAIN + round_seed).digest()
    words = mask_from_seed(seed, n, domain=_SIGNS_DOMAIN, dtype=np.uint32,
                           algorithm=PrgAlgorithm.AES256_CTR)
    return np.where(words & 1, 1.0, -1.0)


def discrete_gaussian(sigma: float, size: int, rng: RandomSource) -> np.ndarray:
    """``size`` samples of the discrete Gaussian N_Z(0, sigma^2) (int64)."""
    if sigma <= 0:
        return np.zeros(size, dtype=np.int64)
    t = math.floor(sigma) + 1
    out = np.empty(0, dtype=np.int64)
    while out.size < size:
        want = 2 * (size - out.size) + 16
        # discrete Laplace(t): difference of two geometric variables with p = 1 - exp(-1/t)
        p = 1.0 - math.exp(-1.0 / t)
        g1 = np.floor(np.log1p(-rng.uniform(want)) / math.log1p(-p))
        g2 = np.floor(np.log1p(-rng.uniform(want)) / math.log1p(-p))
        y = (g1 - g2).astype(np.int64)
        accept = rng.uniform(want) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        out = np.concatenate([out, y[accept]])
    return out[:size]


@dataclass(frozen=True)
class DDGParams:
    """Everything a client and the server must agree on (derived, never negotiated)."""

    dimension: int
    padded: int
    clip: float
    gamma: float
    sigma_client: float  # per-coordinate std of each client's noise, in integer units
    noise_multiplier: float  # of the honest survivors' summed noise: sigma = z * c
    min_survivors: int
    bits: int
    beta: float
    colluders: int = 0  # survivors assumed to collude (their noise is not counted)

    @classmethod
    def derive(cls, *, dimension: int, clip: float, noise_multiplier: float,
               min_survivors: int, max_clients: int, bits: int = 32,
               beta: float = math.exp(-0.5), colluders: int = 0) -> DDGParams:
        """The finest granularity gamma for which the sum of ``max_clients`` cannot wrap, even
        when every client sends the same update (Kairouz et al. 2021, sec. 4 and eq. 61:
        coherent signals add linearly, only the rounding and the noise add in quadrature)."""
        honest = min_survivors - colluders
        if noise_multiplier <= 0 or clip <= 0 or honest < 1 or colluders < 0:
            raise ConfigError("distributed DP needs noise_multiplier > 0, clip > 0 and more "
                              "survivors than colluders")
        padded = 1 << max(0, (dimension - 1).bit_length())
        half = 2.0 ** (bits - 1) - 1
        # a rotated coordinate of a norm-c vector exceeds c*sqrt(2 ln(2d/p)/d) with
        # probability below p over the random signs (sub-Gaussian tail, union over d)
        spread_factor = math.sqrt(2 * (math.log(2 * padded) - _WRAP_LOG2_PROBABILITY
                                       * math.log(2)) / padded)

        def reach(gamma: float) -> float:  # how far one coordinate of the sum can get
            sigma_c = noise_multiplier * clip / (gamma * math.sqrt(honest))
            signal = max_clients * clip / gamma * spread_factor
            return signal + _TAIL_SIGMAS * math.sqrt(max_clients * (0.25 + sigma_c**2))

        lo, hi = 1e-12, 1e3 * clip
        if reach(hi) > half:
            raise ConfigError("distributed DP cannot fit this cohort into "
                              f"{bits}-bit words; use fewer max_clients or 64-bit words")
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if reach(mid) > half else (lo, mid)
        gamma = hi
        sigma_client = noise_multiplier * clip / (gamma * math.sqrt(honest))
        return cls(dimension=dimension, padded=padded, clip=clip, gamma=gamma,
                   sigma_client=sigma_client, noise_multiplier=noise_multiplier,
                   min_survivors=min_survivors, bits=bits, beta=beta, colluders=colluders)

    @property
    def rounding_bound(self) -> float:
        """Conditional randomized rounding keeps every client's integer vector within this norm
        (Kairouz et al. 2021, Eq. 3): the sensitivity of the integer sum."""
        c, d = self.clip / self.gamma, self.padded
        slack = math.sqrt(2 * math.log(1 / self.beta)) * (c + math.sqrt(d) / 2)
        return math.sqrt(c**2 + d / 4 + slack)

    @property
    def effective_noise_multiplier(self) -> float:
        """Noise std of the honest survivors' sum (``min_survivors - colluders`` clients) over
        the rounding bound: what the accountant composes (the discrete Gaussian treated as
        Gaussian when sigma is many times the integer grid)."""
        honest = self.min_survivors - self.colluders
        return self.sigma_client * math.sqrt(honest) / self.rounding_bound

    def accounting_terms(self) -> dict[str, float]:
        """What one round contributes to client-level accounting
        (:func:`blindsum.accounting.distributed_dg_epsilon`): the honest survivors' count and
        noise, and one client's sensitivity in integer units (an integer vector's L1 norm is
        at most its squared L2 norm and at most sqrt(d) times it)."""
        l2 = self.rounding_bound
        return {"sigma": self.sigma_client, "clients": self.min_survivors - self.colluders,
                "l2": l2, "l1": min(l2**2, math.sqrt(self.padded) * l2), "dim": self.padded}

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DDGParams:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def encode(update: np.ndarray, params: DDGParams, round_seed: bytes,
           rng: RandomSource | None = None) -> np.ndarray:
    """A client's protected integer vector mod 2^bits (ready to be masked)."""
    rng = rng or Csprng()
    x = np.asarray(update, dtype=np.float64).ravel()
    if x.size != params.dimension or not np.all(np.isfinite(x)):
        raise ValueError(f"need {params.dimension} finite values")
    x = clip_to_norm(x, params.clip)
    padded = np.zeros(params.padded)
    padded[: x.size] = x / params.gamma
    rotated = hadamard(padded * rotation_signs(round_seed, params.padded))
    floor = np.floor(rotated)
    for _ in range(1000):
        rounded = floor + (rng.uniform(params.padded) < rotated - floor)
        if np.linalg.norm(rounded) <= params.rounding_bound:
            break
    else:  # probability below beta^1000
        raise ValueError("conditional rounding did not succeed")
    noisy = rounded.astype(np.int64) + discrete_gaussian(params.sigma_client, params.padded, rng)
    dtype = np.uint32 if params.bits == 32 else np.uint64
    return (noisy % (1 << params.bits)).astype(dtype)  # type: ignore[no-any-return]


def decode_sum(total: np.ndarray, params: DDGParams, round_seed: bytes) -> np.ndarray:
    """The float sum from the unmasked modular sum of the clients' encodings."""
    words = np.asarray(total).astype(np.int64) if params.bits == 32 else np.asarray(total)
    modulus = 1 << params.bits
    centred = np.where(words >= modulus // 2, words - modulus, words).astype(np.float64)
    unrotated = hadamard(centred) * rotation_signs(round_seed, params.padded)
    return unrotated[: params.dimension] * params.gamma  # type: ignore[no-any-return]
