"""DP-SGD's randomness from a cryptographic generator: Poisson batches and Gaussian noise.

Why: the privacy proof of DP-SGD assumes the batch sampling and the noise are
unpredictable to the adversary. ``torch.Generator`` is a Mersenne Twister; seeded
with 63 bits it is neither (its state can be recovered from its outputs). Both draws
here come from :class:`~blindsum.crypto.randomness.Csprng` (the ChaCha20
keystream under a key from ``os.urandom``), the generator distributed DP uses.

* :class:`PoissonBatches` includes each example independently with probability
  exactly ``sample_rate`` (53-bit uniforms), so the rate the accountant is told is the
  rate used.
* :func:`gaussian` draws N(0, std^2) by Box-Muller from 53-bit uniforms, in float64.

Floating point: a Gaussian sample rounded to a float leaks through the gaps between
representable values (Mironov, "On significance of the least significant bits for
differential privacy", CCS 2012); no float sampler, Opacus's included, is exactly the
mechanism the accountant assumes. Drawing in float64 and adding to float32 gradients
keeps the rounding far below the noise scale; the discrete mechanism with an exact
analysis is distributed DP's (:mod:`blindsum.crypto.secagg.distributed_dp`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from blindsum.crypto.randomness import Csprng
from blindsum.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["PoissonBatches", "gaussian", "install_secure_noise", "uniform53"]

_TWO_POW_53 = float(2**53)


def uniform53(n: int, rng: Csprng) -> np.ndarray:
    """``n`` float64 values uniform on [0, 1) on a grid of 2^-53 (every float64 that fine)."""
    words = np.frombuffer(rng.random_bytes(8 * n), dtype="<u8")
    return (words >> np.uint64(11)).astype(np.float64) / _TWO_POW_53


def gaussian(n: int, std: float, rng: Csprng) -> np.ndarray:
    """``n`` independent N(0, std^2) draws (Box-Muller, float64)."""
    pairs = (n + 1) // 2
    u = uniform53(2 * pairs, rng)
    radius = np.sqrt(-2.0 * np.log1p(-u[:pairs]))  # 1 - u is in (0, 1]: log never sees 0
    angle = (2.0 * math.pi) * u[pairs:]
    out = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]
    return out * std


class PoissonBatches:
    """A batch sampler: ``steps`` batches, each example in each batch with probability
    ``sample_rate``, independently (an empty batch is possible, as Poisson sampling has it).

    Used as a ``DataLoader(batch_sampler=...)``; its length fixes how many batches one
    pass yields, which Opacus also uses to size the average of a batch's gradients."""

    def __init__(self, num_samples: int, sample_rate: float, *, rng: Csprng,
                 steps: int | None = None) -> None:
        if num_samples < 1 or not 0 < sample_rate <= 1:
            raise ConfigError("Poisson sampling needs a dataset and 0 < sample_rate <= 1")
        self.num_samples = num_samples
        self.sample_rate = sample_rate
        self.steps = steps or max(1, round(1 / sample_rate))
        self._rng = rng

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        for _ in range(self.steps):
            chosen = uniform53(self.num_samples, self._rng) < self.sample_rate
            yield np.flatnonzero(chosen).tolist()


def install_secure_noise(optimizer: Any, rng: Csprng) -> None:
    """Make an Opacus ``DPOptimizer`` add its Gaussian noise from ``rng`` instead of torch's
    generator: the same noise (std ``noise_multiplier * max_grad_norm`` on each parameter's
    summed clipped gradient), the same bookkeeping."""
    import torch
    from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

    def add_noise() -> None:
        std = optimizer.noise_multiplier * optimizer.max_grad_norm
        for p in optimizer.params:
            _check_processed_flag(p.summed_grad)
            summed: torch.Tensor = p.summed_grad
            noise = torch.from_numpy(gaussian(summed.numel(), std, rng)).view(summed.shape)
            p.grad = (summed + noise.to(dtype=summed.dtype, device=summed.device)).view_as(p)
            _mark_as_processed(p.summed_grad)

    optimizer.add_noise = add_noise
