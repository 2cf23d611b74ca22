"""blindsum's accounting against Google's dp-accounting over a grid, and the reference values."""

from __future__ import annotations

import dp_accounting
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from blindsum.accounting import epsilon_for, noise_for

GRID = [(0.01, 1.0, 1000), (0.001, 0.8, 1000), (0.1, 2.0, 100), (0.05, 1.5, 500),
        (0.02, 0.7, 300), (1.0, 5.0, 10)]


def _event(q: float, sigma: float, steps: int) -> dp_accounting.DpEvent:
    return dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)


@pytest.mark.parametrize(("q", "sigma", "steps"), GRID)
def test_rdp_matches_dp_accounting(q, sigma, steps) -> None:
    theirs = RdpAccountant()
    theirs.compose(_event(q, sigma, steps))
    assert epsilon_for([(sigma, q, steps)], 1e-5, "rdp") == pytest.approx(
        theirs.get_epsilon(1e-5), rel=1e-3)  # the two libraries search different RDP orders


@pytest.mark.parametrize(("q", "sigma", "steps"), GRID[:4])
def test_prv_is_within_its_error_bound_of_dp_accountings_pld(q, sigma, steps) -> None:
    theirs = PLDAccountant()
    theirs.compose(_event(q, sigma, steps))
    pld = theirs.get_epsilon(1e-5)
    ours = epsilon_for([(sigma, q, steps)], 1e-5, "prv")
    assert -0.005 <= ours - pld <= 0.02  # PRV's default eps_error is 0.01


def test_reference_values_from_the_issue() -> None:
    assert epsilon_for([(1.0, 0.01, 1000)], 1e-5, "rdp") == pytest.approx(2.101, abs=1e-3)
    assert epsilon_for([(1.0, 0.01, 1000)], 1e-5, "prv") == pytest.approx(1.838, abs=2e-3)
    assert noise_for(8, 1e-5, 0.01, 1000, "rdp") == pytest.approx(0.616, abs=2e-3)
    assert noise_for(8, 1e-5, 0.01, 1000, "prv") == pytest.approx(0.586, abs=3e-3)


def test_noise_for_inverts_epsilon_for() -> None:
    sigma = noise_for(3.0, 1e-5, 0.05, 200, "rdp")
    assert epsilon_for([(sigma, 0.05, 200)], 1e-5, "rdp") <= 3.0
    assert epsilon_for([(sigma - 0.01, 0.05, 200)], 1e-5, "rdp") > 3.0
