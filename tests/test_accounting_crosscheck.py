"""blindsum's accounting against Google's dp-accounting over a grid, the reference values, and
the exact privacy loss of the mechanism clients actually run (a sum of discrete Gaussians)."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.pld import privacy_loss_distribution as pld_lib
from dp_accounting.rdp import RdpAccountant

from blindsum.accounting import (
    RDP_ORDERS,
    client_level_epsilon,
    ddg_rdp,
    distributed_dg_epsilon,
    epsilon_for,
    noise_for,
    rdp_epsilon,
)
from blindsum.crypto.secagg.distributed_dp import DDGParams
from blindsum.errors import ConfigError

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


def _pld_epsilon(event: dp_accounting.DpEvent, delta: float = 1e-5) -> float:
    accountant = PLDAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def test_client_level_epsilon_is_the_unamplified_composition_of_contributed_rounds() -> None:
    """Issue 12, item 1: 20 clients, client sampling q = 0.1, 200 rounds, z = 1. Composing the
    Poisson-subsampled Gaussian over only the ~20 contributed rounds applied the sampling
    discount twice (2.86-3.97); even every round at rate q (9.98) assumes the sampling is
    hidden, and the server publishes who contributed. blindsum composes each contributed
    round at rate 1: re-derived here from first principles with dp-accounting's PLD."""
    contributed = 20
    ours = client_level_epsilon(1.0, contributed, 1e-5)
    reference = _pld_epsilon(dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(1.0), contributed))
    assert -0.005 <= ours - reference <= 0.02 * max(1.0, reference)
    double_discount = _pld_epsilon(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.1, dp_accounting.GaussianDpEvent(1.0)),
        contributed))
    every_round = _pld_epsilon(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.1, dp_accounting.GaussianDpEvent(1.0)), 200))
    assert double_discount < 4.0 < 9.0 < every_round < ours  # the old figure under-stated


@pytest.mark.parametrize(("z", "rounds"), [(0.8, 5), (1.0, 20), (2.0, 50), (4.0, 200)])
def test_client_level_epsilon_matches_dp_accounting_on_a_grid(z, rounds) -> None:
    reference = _pld_epsilon(dp_accounting.SelfComposedDpEvent(
        dp_accounting.GaussianDpEvent(z), rounds))
    ours = client_level_epsilon(z, rounds, 1e-5)
    assert -0.005 <= ours - reference <= 0.02 * max(1.0, reference)


@pytest.mark.parametrize(("z", "rounds"), [(0.8, 3), (1.0, 20), (2.0, 50)])
def test_kairouz_bound_reduces_to_dp_accountings_gaussian_rdp_when_tau_vanishes(z, rounds) -> None:
    """Issue 12, item 3: with the noise many times the integer grid the tau term vanishes and
    Proposition 14 is the Gaussian mechanism's RDP; dp-accounting's RDP accountant over the
    same orders then gives the same epsilon (this checks the composition and conversion)."""
    sigma, clients = 1e6, 5
    l2 = math.sqrt(clients) * sigma / z
    terms = {"sigma": sigma, "clients": clients, "l2": l2, "l1": math.sqrt(64) * l2, "dim": 64}
    theirs = RdpAccountant(orders=list(RDP_ORDERS))
    theirs.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(z), rounds))
    assert distributed_dg_epsilon([terms] * rounds, 1e-5) == pytest.approx(
        theirs.get_epsilon(1e-5), rel=1e-9)


def test_kairouz_bound_pays_for_coarse_noise_and_never_undercuts_the_approximation() -> None:
    """When each client's noise is near the integer grid, the sum of discrete Gaussians is not
    a discrete Gaussian; the tau term charges for it. For the service's own encodings the
    bound sits above the continuous-Gaussian PRV figure it replaced (a proven bound costs a
    little), and it is the figure the ledger records."""
    coarse = {"sigma": 0.6, "clients": 10, "l2": 2.0, "l1": 4.0, "dim": 1000}
    fine = dict(coarse, sigma=6.0, l2=20.0, l1=400.0)  # the same ratio, ten times the grid
    assert ddg_rdp(8, **coarse) > 10 * ddg_rdp(8, **fine)
    for dimension, min_survivors in [(64, 3), (1000, 5), (16384, 26)]:
        params = DDGParams.derive(dimension=dimension, clip=1.0, noise_multiplier=1.0,
                                  min_survivors=min_survivors, max_clients=2 * min_survivors)
        for rounds in (1, 10):
            bound = distributed_dg_epsilon([params.accounting_terms()] * rounds, 1e-5)
            approximation = client_level_epsilon(params.effective_noise_multiplier, rounds, 1e-5)
            assert approximation <= bound <= 1.15 * approximation + 0.2


def _log_pmf_of_discrete_gaussian_sum(sigma: float, clients: int) -> dict[int, float]:
    """log P[X = x] for X the sum of ``clients`` independent N_Z(0, sigma^2), to float64 range."""
    half = int(40 * sigma) + 2
    one = np.exp(-np.arange(-half, half + 1) ** 2 / (2 * sigma**2))
    one /= one.sum()
    pmf = one
    for _ in range(clients - 1):
        pmf = np.convolve(pmf, one)
    centre = (len(pmf) - 1) // 2
    with np.errstate(divide="ignore"):
        return {x - centre: float(np.log(v)) for x, v in enumerate(pmf) if v > 0}


def _exact_epsilon(sigma: float, clients: int, shift: tuple[int, ...], rounds: int,
                   pessimistic: bool) -> float:
    """Epsilon at delta 1e-5 of ``rounds`` releases of a ``len(shift)``-dimensional sum of
    discrete Gaussians whose neighbour is moved by ``shift``, from the exact probability mass
    functions (dp-accounting's PLD; ``pessimistic`` rounds losses up, otherwise down)."""
    log_pmf = _log_pmf_of_discrete_gaussian_sum(sigma, clients)
    coordinates = [pld_lib.from_two_probability_mass_functions(
        {x + s: v for x, v in log_pmf.items()}, log_pmf, pessimistic_estimate=pessimistic,
        value_discretization_interval=1e-3) for s in shift]
    loss = coordinates[0]
    with np.errstate(over="ignore"):  # scipy's logsumexp inside dp-accounting, harmless
        for other in coordinates[1:]:
            loss = loss.compose(other)
        return float(loss.self_compose(rounds).get_epsilon_for_delta(1e-5))


@pytest.mark.parametrize(("sigma", "clients", "shift", "rounds"), [
    (0.3, 5, (1,), 10), (0.3, 2, (1,), 1), (0.5, 3, (2,), 1), (0.5, 5, (1,), 10),
    (1.0, 5, (2,), 10), (2.0, 3, (2,), 10), (1.0, 1, (1,), 1), (0.5, 3, (1, 1), 3)])
def test_kairouz_bound_is_never_below_the_exact_epsilon_of_the_discrete_sum(
        sigma, clients, shift, rounds) -> None:
    """Issue 12, item 3, from first principles: the recorded client-level figure is an upper
    bound on the epsilon of the very mechanism clients run, computed from its exact mass
    functions, including coarse noise where the sum of discrete Gaussians is not one."""
    l2 = math.sqrt(sum(s * s for s in shift))
    terms = {"sigma": sigma, "clients": clients, "l2": l2, "l1": float(sum(shift)),
             "dim": len(shift)}
    exact = _exact_epsilon(sigma, clients, shift, rounds, pessimistic=True)
    assert distributed_dg_epsilon([terms] * rounds, 1e-5) >= exact


def test_the_continuous_gaussian_figure_it_replaced_understates_coarse_discrete_noise() -> None:
    """The attack on the old figure: five clients each adding N_Z(0, 0.3^2) for ten rounds.
    The continuous-Gaussian PRV figure (what the ledger used to record) claims less than the
    exact epsilon rounded down (so a lower bound on the truth); the Kairouz bound does not."""
    sigma, clients, rounds = 0.3, 5, 10
    truth_at_least = _exact_epsilon(sigma, clients, (1,), rounds, pessimistic=False)
    old_figure = client_level_epsilon(math.sqrt(clients) * sigma, rounds, 1e-5)
    assert old_figure < truth_at_least - 5.0
    terms = {"sigma": sigma, "clients": clients, "l2": 1.0, "l1": 1.0, "dim": 1}
    assert distributed_dg_epsilon([terms] * rounds, 1e-5) > truth_at_least


@pytest.mark.parametrize("bad", [{"sigma": math.nan}, {"l2": math.nan}, {"l1": -1.0},
                                 {"sigma": 0.0}, {"clients": 0}, {"l2": math.inf}])
def test_a_malformed_distributed_dp_round_never_reads_as_a_small_epsilon(bad) -> None:
    """Adversarial review of issue 12: a NaN term made the whole composition read 0.0
    (max(0, nan) is 0), wiping out the real rounds beside it."""
    good = {"sigma": 6.0, "clients": 10, "l2": 20.0, "l1": 400.0, "dim": 1000}
    with pytest.raises(ConfigError):
        distributed_dg_epsilon([good, dict(good, **bad)], 1e-5)
    assert rdp_epsilon({2: math.nan, 3: 1.0}, 1e-5) == math.inf
