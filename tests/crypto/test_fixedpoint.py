"""Fixed-point encoding: clipping, unbiased rounding, and sums that can never wrap."""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec, clip_to_norm
from blindsum.errors import ConfigError


def test_scale_is_derived_so_max_clients_extremes_cannot_wrap() -> None:
    for bits, n in ((32, 1), (32, 1000), (32, 100_000), (64, 10**6)):
        codec = FixedPointCodec.create(bits=bits, clip_norm=1.0, max_clients=n)
        rng = Csprng(bytes(32))
        for sign in (1.0, -1.0):
            word = codec.quantize(np.array([sign]), rng)  # one coordinate at the clip norm
            total = np.zeros(1, dtype=codec.dtype)
            for _ in range(min(n, 10)):
                total += word
            # Scale up the check without looping n times: n * |q| must stay in range.
            q = int(word.view(np.int32 if bits == 32 else np.int64)[0])
            assert abs(q) * n <= 2 ** (bits - 1) - 1
            assert codec.dequantize_sum(total, min(n, 10))[0] == pytest.approx(
                sign * min(n, 10), rel=1e-6)


def test_configurations_that_could_overflow_are_refused() -> None:
    with pytest.raises(ConfigError, match="bits=64"):
        FixedPointCodec.create(bits=32, clip_norm=1.0, max_clients=2**24)
    with pytest.raises(ConfigError):
        FixedPointCodec.create(bits=32, clip_norm=0.0, max_clients=3)
    with pytest.raises(ConfigError):
        FixedPointCodec.create(bits=32, clip_norm=float("inf"), max_clients=3)
    with pytest.raises(ConfigError):
        FixedPointCodec(bits=16, clip_norm=1.0, max_clients=3)


def test_decoding_more_contributors_than_sized_for_is_refused() -> None:
    codec = FixedPointCodec.create(clip_norm=1.0, max_clients=5)
    with pytest.raises(ConfigError):
        codec.dequantize_sum(np.zeros(3, dtype=np.uint32), 6)


def test_nan_and_inf_are_refused_client_side() -> None:
    codec = FixedPointCodec.create(clip_norm=1.0, max_clients=5)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="NaN or infinity"):
            codec.quantize(np.array([0.1, bad]), Csprng())


def test_clip_scales_down_never_up() -> None:
    np.testing.assert_allclose(clip_to_norm(np.array([3.0, 4.0]), 1.0), [0.6, 0.8])
    np.testing.assert_allclose(clip_to_norm(np.array([0.3, 0.4]), 1.0), [0.3, 0.4])


def test_stochastic_rounding_is_unbiased() -> None:
    codec = FixedPointCodec.create(clip_norm=1.0, max_clients=2**20)  # coarse: 2^10 levels
    x = np.full(200_000, 0.3 / 200_000**0.5) / 1.0
    q = codec.quantize(x, Csprng(bytes(32))).view(np.int32).astype(np.float64) / codec.scale
    step = codec.resolution
    assert abs(q.mean() - x[0]) < 5 * step / 200_000**0.5
    assert np.all(np.abs(q - x) < step)
