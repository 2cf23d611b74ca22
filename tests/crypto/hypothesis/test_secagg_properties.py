"""Properties: exact modular sums for any survivable dropout pattern; shares hide secrets."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.hazmat import shamir
from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec
from blindsum.crypto.secagg import SecAggParams
from blindsum.crypto.secagg.simulate import new_cohort, simulate_round
from blindsum.crypto.secagg.stages import Stage

STAGES = [Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
          Stage.CONSISTENCY_CHECK, Stage.UNMASK]


@given(data=st.data(), n=st.integers(5, 12), bits=st.sampled_from([32, 64]))
def test_sum_is_exact_for_any_dropout_pattern_or_the_round_aborts(data, n, bits) -> None:
    k = n - 1 if n < 9 else 4
    params = SecAggParams(num_clients=n, neighbours=k, threshold=k // 2 + 1,
                          min_survivors=max(3, k // 2 + 1), bits=bits)
    cohort = new_cohort(n, 17, params=params)
    ids = cohort.context.participants
    drops = {stage: data.draw(st.sets(st.sampled_from(ids), max_size=n // 2), label=stage.value)
             for stage in data.draw(st.lists(st.sampled_from(STAGES), max_size=2, unique=True))}
    dtype = cohort.context.codec.dtype
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    inputs = {u: rng.integers(0, np.iinfo(dtype).max, 17, dtype=dtype, endpoint=True) for u in ids}
    sim = simulate_round(cohort, inputs, drops=drops)
    if sim.result is None:
        assert sim.abort_reason.startswith(("ThresholdNotMetError", "ProtocolError"))
        return
    total = np.zeros(17, dtype=dtype)
    for u in sim.result.contributors:
        total += inputs[u]
    np.testing.assert_array_equal(sim.result.total, total)
    input_droppers = set().union(*(drops.get(s, set()) for s in STAGES[:3]))
    assert set(sim.result.contributors) == set(ids) - input_droppers - set(sim.refused)


_SECRETS = st.integers(0, shamir.PRIME - 1).map(lambda v: v.to_bytes(32, "big"))


@given(secret=_SECRETS, t=st.integers(1, 8), extra=st.integers(0, 4), data=st.data())
def test_any_t_shares_reconstruct(secret, t, extra, data) -> None:
    xs = data.draw(st.lists(st.integers(1, 2**32), min_size=t + extra, max_size=t + extra,
                            unique=True))
    shares = shamir.split(secret, threshold=t, xs=xs)
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=t, unique=True))
    assert shamir.combine({x: shares[x] for x in subset}, threshold=t) == secret


@given(secret=_SECRETS, other=_SECRETS, t=st.integers(2, 6), data=st.data())
def test_t_minus_1_shares_are_consistent_with_every_secret(secret, other, t, data) -> None:
    """Perfect hiding: for t-1 shares of one secret, a polynomial through them exists
    for any other secret, so the shares carry no information about which it was."""
    xs = data.draw(st.lists(st.integers(1, 10**6), min_size=t, max_size=t, unique=True))
    all_shares = shamir.split(secret, threshold=t, xs=xs)
    shares = {x: all_shares[x] for x in xs[:-1]}  # the t-1 shares an attacker holds
    # Interpolate through (0, other) and the t-1 shares: a degree t-1 polynomial.
    points = {0: int.from_bytes(other, "big"), **shares}
    p = shamir.PRIME

    def at(x: int) -> int:
        acc = 0
        for xj, yj in points.items():
            num = den = 1
            for xm in points:
                if xm != xj:
                    num, den = num * (x - xm) % p, den * (xj - xm) % p
            acc = (acc + yj * num * pow(den, -1, p)) % p
        return acc

    assert at(0) == int.from_bytes(other, "big")
    assert all(at(x) == y for x, y in shares.items())


@given(values=st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=64),
       clip=st.floats(0.01, 100), n=st.integers(1, 10**5), bits=st.sampled_from([32, 64]))
def test_encode_decode_error_is_below_one_step(values, clip, n, bits) -> None:
    codec = FixedPointCodec.create(bits=bits, clip_norm=clip, max_clients=n)
    x = np.array(values)
    norm = np.linalg.norm(x)
    clipped = x * (clip / norm) if norm > clip else x
    q = codec.quantize(x, Csprng())
    decoded = codec.dequantize_sum(q, 1)
    assert np.all(np.abs(decoded - clipped) <= codec.resolution * (1 + 1e-9) + 1e-12 * clip)
