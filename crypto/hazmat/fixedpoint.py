"""Clip, stochastically round and embed updates in Z_2^32 (or Z_2^64).

A client's update ``x`` is clipped to L2 norm ``C``, so every coordinate lies in
[-C, C]. It is multiplied by ``scale`` and rounded *stochastically* (up with
probability equal to the fractional part, using an injected CSPRNG), which keeps
the sum unbiased. The integers are stored in two's complement modulo 2^bits.

Why the scale is derived, never chosen: with ``M = floor((2^(bits-1) - 1) /
max_clients)`` and ``scale = (M - 1) / C`` a rounded coordinate is at most
``M`` in magnitude, so the sum of ``max_clients`` of them is at most
``2^(bits-1) - 1`` and the modular sum always decodes to the true integer sum.
A configuration where that bound leaves no resolution is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from blindsum.crypto.clipping import clip_to_norm
from blindsum.crypto.hazmat.csprng import RandomSource
from blindsum.errors import ConfigError

__all__ = ["FixedPointCodec", "clip_to_norm"]

_FLOAT64_EXACT: Final = 2**52
"""Above this a float64 has no fractional bits left to round stochastically."""
_DTYPES: Final = {32: (np.uint32, np.int32), 64: (np.uint64, np.int64)}


@dataclass(frozen=True)
class FixedPointCodec:
    """Fixed-point encoding whose sum over ``max_clients`` inputs cannot overflow.

    Build it with :meth:`create`; ``scale`` is derived from the other fields.
    """

    bits: Literal[32, 64]
    clip_norm: float
    max_clients: int
    scale: float = field(init=False)

    def __post_init__(self) -> None:
        if self.bits not in _DTYPES:
            raise ConfigError("fixed-point words are 32 or 64 bits")
        if not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ConfigError("clip_norm must be a positive finite number")
        if self.max_clients < 1:
            raise ConfigError("max_clients must be at least 1")
        per_client = (2 ** (self.bits - 1) - 1) // self.max_clients
        levels = min(per_client - 1, _FLOAT64_EXACT)
        if levels < 2**8:
            raise ConfigError(
                f"{self.max_clients} clients cannot be summed in {self.bits}-bit words "
                f"with useful precision (only {max(levels, 0)} levels per unit of clip norm); "
                "use bits=64 or lower max_clients"
            )
        object.__setattr__(self, "scale", levels / self.clip_norm)

    @classmethod
    def create(
        cls, *, bits: Literal[32, 64] = 32, clip_norm: float, max_clients: int
    ) -> FixedPointCodec:
        """The codec for ``max_clients`` updates clipped to ``clip_norm``."""
        return cls(bits=bits, clip_norm=clip_norm, max_clients=max_clients)

    @property
    def dtype(self) -> np.dtype:
        """The unsigned word type of encoded vectors."""
        return np.dtype(_DTYPES[self.bits][0])

    @property
    def resolution(self) -> float:
        """The quantization step, in units of the update."""
        return 1.0 / self.scale

    def quantize(self, update: np.ndarray, rng: RandomSource) -> np.ndarray:
        """Clip, scale and stochastically round to unsigned words (two's complement)."""
        scaled = clip_to_norm(update, self.clip_norm) * self.scale
        floor = np.floor(scaled)
        rounded = floor + (rng.uniform(scaled.size) < (scaled - floor))
        return rounded.astype(_DTYPES[self.bits][1]).view(self.dtype)

    def dequantize_sum(self, total: np.ndarray, n_contributors: int) -> np.ndarray:
        """Decode a modular sum of ``n_contributors`` encoded updates to float64.

        Raises:
            ConfigError: more contributors than the codec was sized for (the
                modular sum could have wrapped).
        """
        if not 1 <= n_contributors <= self.max_clients:
            raise ConfigError(
                f"{n_contributors} contributors exceed the codec's max_clients={self.max_clients}"
            )
        if total.dtype != self.dtype:
            raise ValueError(f"expected {self.dtype} words")
        return total.view(_DTYPES[self.bits][1]).astype(np.float64) / self.scale
