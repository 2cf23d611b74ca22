"""Server update rules against hand-computed steps (Reddi et al. 2021, Algorithm 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blindsum.aggregator.update_rules import UpdateRule, apply_rule
from blindsum.errors import ConfigError


def test_fedavg_adds_the_scaled_average() -> None:
    params, m, v = apply_rule(UpdateRule("fedavg", learning_rate=0.5), np.array([1.0, 2.0]),
                              np.array([0.2, -0.4]), None, None)
    np.testing.assert_allclose(params, [1.1, 1.8])
    assert m is None and v is None


def test_fedadam_two_steps_match_a_hand_computation() -> None:
    rule = UpdateRule("fedadam", learning_rate=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    x, m, v = np.array([0.0]), None, None
    x, m, v = apply_rule(rule, x, np.array([0.5]), m, v)
    m1 = 0.1 * 0.5
    v1 = 0.99 * 1e-6 + 0.01 * 0.25
    assert x[0] == pytest.approx(0.1 * m1 / (math.sqrt(v1) + 1e-3))
    x, m, v = apply_rule(rule, x, np.array([-0.5]), m, v)
    m2 = 0.9 * m1 - 0.1 * 0.5
    v2 = 0.99 * v1 + 0.01 * 0.25
    assert m is not None and v is not None
    assert m[0] == pytest.approx(m2) and v[0] == pytest.approx(v2)


def test_fedyogi_second_moment_moves_by_a_bounded_signed_step() -> None:
    rule = UpdateRule("fedyogi", learning_rate=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    _, _, v = apply_rule(rule, np.zeros(2), np.array([0.5, 0.0]), None, None)
    # v0 = tau^2 < 0.25: v grows by (1 - beta2) * g^2; g = 0: v0 unchanged
    np.testing.assert_allclose(v, [1e-6 + 0.01 * 0.25, 1e-6])


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ConfigError):
        UpdateRule("fedsgd")
    with pytest.raises(ConfigError):
        UpdateRule("fedadam", beta2=1.0)
