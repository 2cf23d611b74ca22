"""The flooding sampler: as wide as asked, centred, and random down to the last bit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blindsum.crypto.ckks.params import seal_primes
from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.hazmat.rns import RnsBasis
from blindsum.crypto.hazmat.wide_gaussian import ETA, WideGaussian


@pytest.mark.parametrize("log_sigma", [30.0, 71.9, 79.0])
def test_samples_have_the_stated_width_and_no_bias(log_sigma: float) -> None:
    g = WideGaussian(2.0**log_sigma)
    assert g.sigma <= g.width < g.sigma * (1 + 1 / g.k)  # k is an integer
    assert g.base_sigma >= math.sqrt(2) * g.k * ETA  # Micciancio-Walter, Theorem 3
    low, high = g.parts(Csprng(bytes(32)), 200_000)
    x = low.astype(np.float64) + g.k * high.astype(np.float64)
    assert abs(x.std() / g.width - 1) < 0.01  # 200k samples: 0.16 % standard error
    assert abs(x.mean()) / g.width < 0.01
    kurtosis = np.mean((x / x.std()) ** 4)
    assert abs(kurtosis - 3) < 0.1  # Gaussian, not uniform (1.8) nor heavy-tailed


def test_the_low_bits_are_uniform_so_they_hide_small_noise() -> None:
    """A float64 of width 2^72 would leave its last 19 bits fixed; these are uniform."""
    low, high = WideGaussian(2.0**72).parts(Csprng(bytes(32)), 200_000)
    for bits in (low & 0xFF, high & 0xFF):
        counts = np.bincount(bits.astype(np.int64), minlength=256)
        chi2 = float(((counts - counts.mean()) ** 2 / counts.mean()).sum())
        assert chi2 < 330  # 255 degrees of freedom: p about 0.001


def test_residues_are_the_samples_modulo_each_prime() -> None:
    basis = RnsBasis(16, seal_primes(16, (38, 38, 50)))
    g = WideGaussian(2.0**72)
    low, high = g.parts(Csprng(bytes(32)), 16)
    got = g.residues(Csprng(bytes(32)), basis, (1,))[0]
    exact = [int(lo) + g.k * int(hi) for lo, hi in zip(low, high, strict=True)]
    assert got.tolist() == [[v % q for v in exact] for q in basis.primes]
