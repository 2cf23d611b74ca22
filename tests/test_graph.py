"""The public neighbour graph."""

from __future__ import annotations

import os

import pytest

from blindsum.crypto.secagg.graph import is_connected, neighbour_graph

IDS = list(range(1, 41))


def test_graph_is_k_regular_symmetric_and_loop_free() -> None:
    g = neighbour_graph(IDS, neighbours=8, seed=os.urandom(32))
    assert set(g) == set(IDS)
    for u, nbrs in g.items():
        assert len(nbrs) == 8 and u not in nbrs
        assert all(u in g[v] for v in nbrs)


def test_graph_is_a_deterministic_function_of_the_seed() -> None:
    seed = os.urandom(32)
    assert neighbour_graph(IDS, neighbours=6, seed=seed) == neighbour_graph(
        reversed(IDS), neighbours=6, seed=seed)
    assert neighbour_graph(IDS, neighbours=6, seed=seed) != neighbour_graph(
        IDS, neighbours=6, seed=os.urandom(32))


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
