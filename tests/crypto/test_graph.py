"""The public neighbour graph."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.secagg.graph import (
    is_connected,
    neighbour_graph,
    ring_order,
    survives_removal,
)

IDS = list(range(1, 41))


def test_graph_is_k_regular_symmetric_and_loop_free(seeds) -> None:
    g = neighbour_graph(IDS, neighbours=8, seed=seeds())
    assert set(g) == set(IDS)
    for u, nbrs in g.items():
        assert len(nbrs) == 8 and u not in nbrs
        assert all(u in g[v] for v in nbrs)


def test_graph_is_a_deterministic_function_of_the_seed(seeds) -> None:
    seed = seeds()
    assert neighbour_graph(IDS, neighbours=6, seed=seed) == neighbour_graph(
        reversed(IDS), neighbours=6, seed=seed)
    assert neighbour_graph(IDS, neighbours=6, seed=seed) != neighbour_graph(
        IDS, neighbours=6, seed=seeds())


def test_complete_graph_when_k_is_n_minus_1() -> None:
    g = neighbour_graph(IDS[:7], neighbours=6, seed=bytes(32))
    assert all(nbrs == set(IDS[:7]) - {u} for u, nbrs in g.items())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        neighbour_graph(IDS, neighbours=5, seed=bytes(32))
    with pytest.raises(ValueError):
        neighbour_graph(IDS, neighbours=4, seed=bytes(16))
    with pytest.raises(ValueError):
        neighbour_graph(IDS, neighbours=40, seed=bytes(32))


def test_connectivity() -> None:
    g = neighbour_graph(IDS, neighbours=4, seed=bytes(32))
    assert is_connected(g, IDS)
    assert not is_connected(g, [])
    u = IDS[0]
    far = next(v for v in IDS if v != u and v not in g[u])
    assert not is_connected(g, [u, far])


@st.composite
def _survivors_and_removals(draw):
    n = draw(st.integers(4, 13))
    k = draw(st.sampled_from([v for v in range(2, n) if v % 2 == 0 or v == n - 1]))
    ids = list(range(1, n + 1))
    survivors = draw(st.sets(st.sampled_from(ids), min_size=1))
    return ids, k, survivors, draw(st.integers(0, 3)), draw(st.binary(min_size=32, max_size=32))


@given(_survivors_and_removals())
def test_survives_removal_matches_brute_force(case) -> None:
    """The window rule equals trying every removal of up to c survivors (the definition)."""
    ids, k, survivors, c, seed = case
    graph = neighbour_graph(ids, neighbours=k, seed=seed)
    truth = len(survivors) > c and all(
        is_connected(graph, survivors - set(removed))
        for r in range(c + 1) for removed in itertools.combinations(sorted(survivors), r))
    ring = ring_order(ids, seed=seed)
    assert survives_removal(ring, neighbours=k, survivors=survivors, removed=c) == truth


def test_survives_removal_with_no_colluders_is_connectivity(seeds) -> None:
    seed = seeds()
    graph, ring = neighbour_graph(IDS, neighbours=4, seed=seed), ring_order(IDS, seed=seed)
    cut = {ring[0], ring[1], ring[20], ring[21]}
    survivors = set(IDS) - cut
    assert not is_connected(graph, survivors)
    assert not survives_removal(ring, neighbours=4, survivors=survivors, removed=0)
    assert survives_removal(ring, neighbours=4, survivors=set(IDS) - {ring[0]}, removed=0)
