"""Choosing k and t: the documented formula, refusals, and validation."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.secagg import SecAggParams
from blindsum.crypto.secagg.params import MIN_COHORT, _binomial_tail
from blindsum.errors import ConfigError


def test_benchmark_cohort_gets_a_sparse_graph() -> None:
    p = SecAggParams.derive(50, dropout_rate=0.1)
    assert (p.neighbours, p.threshold) == (14, 8)  # 2*ceil(log2 50)=12 is not live enough
    assert p.abort_probability(0.1) <= 0.01
    assert p.threshold > p.neighbours / 2


@pytest.mark.parametrize("n", [3, 5, 10, 100, 1000, 10_000])
def test_derived_parameters_follow_the_rules(n) -> None:
    p = SecAggParams.derive(n, dropout_rate=0.05)
    k, t = p.neighbours, p.threshold
    assert k == n - 1 or (k % 2 == 0 and k >= max(4, 2 * math.ceil(math.log2(n))))
    assert k // 2 < t <= k
    assert p.min_survivors >= max(t, MIN_COHORT)


def test_large_cohorts_stay_logarithmic() -> None:
    p = SecAggParams.derive(10_000, dropout_rate=0.1)
    assert p.neighbours <= 6 * math.ceil(math.log2(10_000))


def test_hardened_threshold_is_two_thirds() -> None:
    p = SecAggParams.derive(200, dropout_rate=0.05, hardened=True)
    assert p.threshold >= math.ceil(2 * p.neighbours / 3)


def test_corruption_grows_the_neighbourhood_or_is_refused() -> None:
    honest = SecAggParams.derive(1000, dropout_rate=0.05)
    colluding = SecAggParams.derive(1000, dropout_rate=0.05, corruption_rate=0.05, hardened=True)
    assert colluding.neighbours > honest.neighbours
    assert colluding.threshold > colluding.max_corrupted == 50
    with pytest.raises(ConfigError, match="colluding"):
        SecAggParams.derive(20, dropout_rate=0.05, corruption_rate=0.95)


def test_small_cohorts_get_the_complete_graph() -> None:
    p = SecAggParams.derive(6, dropout_rate=0.2)
    assert p.neighbours == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"num_clients": 2, "neighbours": 1, "threshold": 1, "min_survivors": 2}, "at least 3"),
    ({"num_clients": 10, "neighbours": 4, "threshold": 2, "min_survivors": 3}, "k/2 < t"),
    ({"num_clients": 10, "neighbours": 5, "threshold": 3, "min_survivors": 3}, "even k"),
    ({"num_clients": 10, "neighbours": 12, "threshold": 7, "min_survivors": 7}, "neighbours"),
    ({"num_clients": 10, "neighbours": 4, "threshold": 3, "min_survivors": 2}, "min_survivors"),
    ({"num_clients": 10, "neighbours": 4, "threshold": 3, "min_survivors": 3, "bits": 16}, "bits"),
])
def test_unsafe_parameters_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        SecAggParams(**kwargs)


def test_rates_out_of_range_are_refused() -> None:
    with pytest.raises(ConfigError):
        SecAggParams.derive(10, dropout_rate=1.0)
    with pytest.raises(ConfigError):
        SecAggParams.derive(2)


def test_the_quorum_is_at_least_min_survivors() -> None:
    """Every sum that can be unmasked holds every honest signer: at least quorum - c honest
    inputs, which must cover the min_survivors - c that distributed DP is sized for."""
    p = SecAggParams.derive(50, min_survivors=40)
    assert p.quorum == p.min_survivors == 40
    q = SecAggParams.derive(50, corruption_rate=0.1)
    assert 2 * q.quorum > 50 + q.max_corrupted and q.quorum >= q.min_survivors


@given(k=st.integers(1, 400), p=st.floats(0.001, 0.999), at_least=st.integers(-2, 402))
def test_binomial_tail_matches_the_exact_sum(k, p, at_least) -> None:
    exact = float(sum(Fraction(math.comb(k, i)) * Fraction(p) ** i * (1 - Fraction(p)) ** (k - i)
                      for i in range(max(at_least, 0), k + 1))) if at_least > 0 else 1.0
    assert _binomial_tail(k, p, at_least) == pytest.approx(exact, rel=1e-9, abs=1e-300)


def test_derivation_stays_cheap_for_the_largest_cohorts() -> None:
    """The service derives parameters on every federation it creates (schemathesis found a
    100,000-client federation with a 50% dropout rate taking minutes): an unreachable
    liveness target now ends at the complete graph after a bisection."""
    p = SecAggParams.derive(100_000, dropout_rate=0.5)
    assert p.neighbours == 99_999
    assert SecAggParams.derive(20, dropout_rate=0.5).neighbours == 19
