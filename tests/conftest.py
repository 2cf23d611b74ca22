"""Shared fixtures: a clean environment and small SecAgg cohorts."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import (
    ConsistencySignature,
    Exclusions,
    KeyAdvert,
    MaskedInput,
    SeedCommitment,
    ShareEnvelope,
    SurvivorSet,
)
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.server import AggregateResult, SecAggServer
from blindsum.crypto.secagg.simulate import SimulatedCohort, new_cohort
from blindsum.errors import BlindsumError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (the README's test command and CI do)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A fast default run: tests marked slow are deselected unless --slow is given."""
    if config.getoption("--slow"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]


@pytest.fixture
def seeds() -> Callable[[], bytes]:
    """Fresh 32-byte seeds that a failure can replay: all derive from one master seed, which
    is printed (pytest shows it with a failure's captured output) and read back from the
    environment: ``TEST_SEED=<hex> pytest <the failing test>``."""
    master = bytes.fromhex(os.environ["TEST_SEED"]) if "TEST_SEED" in os.environ \
        else os.urandom(32)
    print(f"TEST_SEED={master.hex()}")
    counter = itertools.count()
    return lambda: hashlib.sha256(master + next(counter).to_bytes(8, "big")).digest()


settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """No test sees (or leaks) BLINDSUM_* settings from the developer's shell."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("BLINDSUM_")]:
        del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def cohort() -> SimulatedCohort:
    """Ten clients, 257-long updates, derived parameters (k=9 complete graph, t=5)."""
    return new_cohort(10, 257)


@pytest.fixture
def sparse_cohort() -> SimulatedCohort:
    """Thirty clients on a sparse SecAgg+ graph (k < n - 1)."""
    c = new_cohort(30, 64)
    assert c.context.params.neighbours < 29
    return c


def _encoded_inputs(cohort: SimulatedCohort, seed: int = 0) -> dict[int, np.ndarray]:
    """Uniformly random words: the masks must cancel exactly whatever the inputs."""
    rng = np.random.default_rng(seed)
    dtype = cohort.context.codec.dtype
    info = np.iinfo(dtype)
    return {
        u: rng.integers(0, info.max, size=cohort.context.dimension, dtype=dtype, endpoint=True)
        for u in cohort.context.participants
    }


def _modular_sum(inputs: dict[int, np.ndarray], ids: tuple[int, ...]) -> np.ndarray:
    """The reference: a plain numpy modular sum of the contributors' words."""
    total = np.zeros_like(next(iter(inputs.values())))
    for u in ids:
        total += inputs[u]
    return total


@pytest.fixture
def encoded_inputs():
    """``encoded_inputs(cohort, seed=0)``: random words for every participant."""
    return _encoded_inputs


@pytest.fixture
def modular_sum():
    """``modular_sum(inputs, ids)``: the reference modular sum."""
    return _modular_sum


class StepwiseRound:
    """Drives one round by hand so a test can tamper between stages."""

    def __init__(self, n: int = 8, dim: int = 16, *, cohort: SimulatedCohort | None = None,
                 params: SecAggParams | None = None,
                 inputs: dict[int, np.ndarray] | None = None) -> None:
        self.cohort = cohort or new_cohort(n, dim, params=params)
        base = self.cohort.context
        roster = self.cohort.roster
        self.server = SecAggServer(base, roster=roster)
        self.clients = {u: SecAggClient(base, client_id=u, identity_key=k, roster=roster,
                                        required=self.cohort.required)
                        for u, k in self.cohort.identity_keys.items()}
        rng = np.random.default_rng(0)
        self.inputs = inputs or {u: rng.integers(0, 2**32, base.dimension, dtype=np.uint32)
                                 for u in base.participants}

    @property
    def ctx(self) -> RoundContext:
        """The round's context as the server has it (with the graph once adverts closed)."""
        return self.server.context

    def fresh(self) -> StepwiseRound:
        """A new round on the same cohort and inputs."""
        return StepwiseRound(cohort=self.cohort, inputs=self.inputs)

    def commit(self) -> tuple[SeedCommitment, ...]:
        for cl in self.clients.values():
            self.server.receive_commitment(cl.commit_seed())
        return self.server.close_commit_seed()

    def advertise(self) -> tuple[KeyAdvert, ...]:
        """Commit and advertise: every advert, relayed to every client (the graph is drawn)."""
        commitments = self.commit()
        for cl in self.clients.values():
            self.server.receive_advert(cl.advertise_keys(commitments))
        return self.server.close_advertise_keys()

    def share(self) -> dict[int, tuple[ShareEnvelope, ...]]:
        adverts = self.advertise()
        for u, cl in self.clients.items():
            self.server.receive_shares(u, cl.share_keys(adverts))
        return self.server.close_share_keys()

    def check(self) -> Exclusions:
        """Share, then every client checks its envelopes: who the server excludes."""
        return self.accuse(self.share())

    def accuse(self, inbox: dict[int, tuple[ShareEnvelope, ...]],
               clients: tuple[int, ...] | None = None) -> Exclusions:
        """``clients`` (default: all) check the envelopes ``inbox`` relays to them; the server
        takes their accusations (refusing some, as a server does) and closes the stage."""
        for u in self.clients if clients is None else clients:
            with contextlib.suppress(BlindsumError):
                self.server.receive_accusations(self.clients[u].check_shares(inbox[u]))
        return self.server.close_check_shares()

    def masked(self, exclusions: Exclusions, clients: Iterable[int]) -> list[MaskedInput]:
        """The masked inputs of ``clients``, told ``exclusions``."""
        return [self.clients[u].mask_encoded(exclusions, self.inputs[u]) for u in clients]

    def mask(self, skip: tuple[int, ...] = (), exclusions: Exclusions | None = None
             ) -> SurvivorSet:
        exclusions = self.check() if exclusions is None else exclusions
        for u, cl in self.clients.items():
            if u not in skip and u not in exclusions.excluded:
                self.server.receive_masked_input(cl.mask_encoded(exclusions, self.inputs[u]))
        return self.server.close_masked_input()

    def finish(self, masked: list[MaskedInput], *, silent_at_unmask: tuple[int, ...] = ()
               ) -> tuple[SurvivorSet, AggregateResult]:
        """Hand the server ``masked``, then sign, unmask (but for ``silent_at_unmask``),
        finalize."""
        for m in masked:
            self.server.receive_masked_input(m)
        survivor_set = self.server.close_masked_input()
        for u in survivor_set.survivors:
            self.server.receive_consistency(self.clients[u].consistency_check(survivor_set))
        certificate = self.server.close_consistency()
        for u in survivor_set.survivors:
            if u not in silent_at_unmask:
                self.server.receive_unmask(self.clients[u].unmask(certificate))
        return survivor_set, self.server.finalize()

    def sign(self, skip: tuple[int, ...] = ()) -> tuple[ConsistencySignature, ...]:
        survivor_set = self.mask(skip)
        for u in survivor_set.survivors:
            self.server.receive_consistency(self.clients[u].consistency_check(survivor_set))
        return self.server.close_consistency()


@pytest.fixture
def stepwise_round() -> type[StepwiseRound]:
    """``stepwise_round(n=8, dim=16, ...)``: a round driven stage by stage."""
    return StepwiseRound
