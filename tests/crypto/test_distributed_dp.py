"""Distributed discrete Gaussian: the transform, the sampler, the encoding and its accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blindsum.client_sdk.accountant import client_level_epsilon
from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.secagg.distributed_dp import (
    DDGParams,
    decode_sum,
    discrete_gaussian,
    encode,
    hadamard,
    rotation_signs,
)
from blindsum.errors import ConfigError


@given(st.integers(0, 10).map(lambda k: 1 << k), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_hadamard_is_orthogonal_and_its_own_inverse(n, seed) -> None:
    x = np.random.default_rng(seed).normal(size=n)
    y = hadamard(x)
    np.testing.assert_allclose(np.linalg.norm(y), np.linalg.norm(x), rtol=1e-9)
    np.testing.assert_allclose(hadamard(y), x, atol=1e-9)


def test_hadamard_matches_the_matrix_definition() -> None:
    h2 = np.array([[1, 1], [1, -1]])
    h8 = np.kron(np.kron(h2, h2), h2) / math.sqrt(8)
    x = np.arange(8.0)
    np.testing.assert_allclose(hadamard(x), h8 @ x)


def test_rotation_signs_are_public_deterministic_and_balanced() -> None:
    seed = bytes(32)
    a, b = rotation_signs(seed, 4096), rotation_signs(seed, 4096)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {-1.0, 1.0} and abs(a.mean()) < 0.06
    assert not np.array_equal(a, rotation_signs(b"\x01" * 32, 4096))


@pytest.mark.parametrize("sigma", [0.7, 3.0, 25.0])
def test_discrete_gaussian_has_the_stated_moments_and_is_integer(sigma) -> None:
    samples = discrete_gaussian(sigma, 200_000, Csprng(b"\x07" * 32))
    assert samples.dtype == np.int64
    assert abs(samples.mean()) < 5 * sigma / math.sqrt(200_000)
    assert samples.var() == pytest.approx(sigma**2, rel=0.03)


def _sum_of_encodings(params: DDGParams, xs: list[np.ndarray], seed: bytes) -> np.ndarray:
    modulus = 1 << params.bits
    total = np.zeros(params.padded, dtype=np.uint64)
    for i, x in enumerate(xs):
        words = encode(x, params, seed, Csprng(bytes([i]) * 32)).astype(np.uint64)
        total = (total + words) % modulus
    return total.astype(np.uint32)


def test_decoded_sum_is_the_true_sum_plus_the_stated_noise(seeds) -> None:
    params = DDGParams.derive(dimension=3000, clip=1.0, noise_multiplier=0.5, min_survivors=4,
                              max_clients=8)
    seed = seeds()
    xs = [np.random.default_rng(i).normal(0, 0.01, 3000) for i in range(8)]
    error = decode_sum(_sum_of_encodings(params, xs, seed), params, seed) - np.sum(xs, axis=0)
    # each client adds sigma^2 / min_survivors: 8 clients carry 2 sigma^2
    assert np.std(error) == pytest.approx(0.5 * math.sqrt(8 / 4), rel=0.05)
    assert abs(np.mean(error)) < 0.05


def test_coherent_updates_at_the_clip_norm_do_not_wrap_the_sum(seeds) -> None:
    """Issue 11: 50 clients pushing the same direction at the clip norm in d = 64 wrapped the
    modular sum (error 14.5 against a noise sd of 1.4); the signal bound is now linear in n."""
    n, d = 50, 64
    params = DDGParams.derive(dimension=d, clip=1.0, noise_multiplier=1.0, min_survivors=26,
                              max_clients=n)
    seed = seeds()
    x = np.ones(d) / math.sqrt(d)
    error = decode_sum(_sum_of_encodings(params, [x] * n, seed), params, seed) - n * x
    sigma = math.sqrt(n / 26)  # each client adds 1/26 of the stated variance
    assert np.max(np.abs(error)) < 6 * sigma


def test_honest_survivors_alone_carry_the_stated_noise_when_colluders_are_tolerated() -> None:
    """Colluders know (and can subtract) their own noise shares: each client's share is sized
    so that min_survivors - colluders honest clients still sum to the stated sigma."""
    plain = DDGParams.derive(dimension=256, clip=1.0, noise_multiplier=1.0, min_survivors=10,
                             max_clients=20)
    hedged = DDGParams.derive(dimension=256, clip=1.0, noise_multiplier=1.0, min_survivors=10,
                              max_clients=20, colluders=3)
    honest = (hedged.sigma_client * hedged.gamma) ** 2 * (10 - 3)
    assert honest == pytest.approx(1.0, rel=1e-9)  # (z * c)^2, from the honest 7 alone
    assert (plain.sigma_client * plain.gamma) ** 2 * (10 - 3) < 1.0  # 7 of plain's fall short
    assert hedged.effective_noise_multiplier == pytest.approx(
        hedged.sigma_client * math.sqrt(7) / hedged.rounding_bound)
    with pytest.raises(ConfigError):
        DDGParams.derive(dimension=8, clip=1.0, noise_multiplier=1.0, min_survivors=3,
                         max_clients=10, colluders=3)


def test_clipping_and_rounding_bound_every_clients_integer_vector() -> None:
    params = DDGParams.derive(dimension=100, clip=0.5, noise_multiplier=1.0, min_survivors=3,
                              max_clients=5)
    big = np.full(100, 10.0)  # norm 100, clipped to 0.5
    words = encode(big, params, bytes(32), Csprng(bytes(32)))
    assert words.dtype == np.uint32 and words.size == params.padded == 128
    assert params.rounding_bound >= params.clip / params.gamma
    assert params.effective_noise_multiplier == pytest.approx(
        params.sigma_client * math.sqrt(3) / params.rounding_bound)


def test_granularity_leaves_room_for_every_client_within_the_word() -> None:
    small = DDGParams.derive(dimension=1024, clip=1.0, noise_multiplier=1.0, min_survivors=3,
                             max_clients=10)
    large = DDGParams.derive(dimension=1024, clip=1.0, noise_multiplier=1.0, min_survivors=3,
                             max_clients=1000)
    assert large.gamma > small.gamma  # more clients: a coarser grid keeps the sum in range
    with pytest.raises(ConfigError):
        DDGParams.derive(dimension=8, clip=1.0, noise_multiplier=0.0, min_survivors=3,
                         max_clients=10)


def test_client_level_accounting_composes_rounds() -> None:
    one = client_level_epsilon(1.0, 10, 1e-5)
    two = client_level_epsilon(1.0, 20, 1e-5)
    assert 0 < one < two
    assert client_level_epsilon(1.0, 0, 1e-5) == 0.0


def test_hopeless_noise_gives_infinite_epsilon_never_nan() -> None:
    assert client_level_epsilon(1e-4, 10, 1e-5) == math.inf
