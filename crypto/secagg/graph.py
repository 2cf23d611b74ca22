"""The public SecAgg+ neighbour graph: a randomly labelled k-regular ring (Harary graph).

Bell et al. (CCS 2020) use a random k-regular graph; a Harary ring whose
positions are a uniformly random permutation of the clients, drawn from the
public round seed, is the construction they analyse and what Flower uses too
(Flower shuffles with Python's ``random``; here the shuffle is driven by the
AES-CTR keystream of the round seed, so every party derives the same graph and
nobody can bias it without choosing the seed).

Every client can compute the whole graph, which lets clients check that the
survivors of a round induce a *connected* subgraph: otherwise the masks cancel
within each component and the server would learn each component's partial sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from blindsum.crypto.hazmat.prg import SEED_BYTES, MaskExpander

__all__ = ["is_connected", "neighbour_graph", "ring_order", "survives_removal"]

_SHUFFLE_DOMAIN = b"secagg-graph-shuffle"


def _shuffled(ids: Sequence[int], seed: bytes) -> list[int]:
    """Fisher-Yates with unbiased draws (rejection sampling) from the seed's keystream.

    A draw below ``n`` is rejected with probability below ``n / 2^32``, so
    ``2n + 64`` words run out with negligible probability; if they ever do, the
    function fails loudly rather than bias the graph.
    """
    out = list(ids)
    n = len(out)
    words = iter(MaskExpander(2 * n + 64).expand(seed, domain=_SHUFFLE_DOMAIN).tolist())
    for i in range(n - 1, 0, -1):
        bound = i + 1
        limit = (1 << 32) - (1 << 32) % bound
        word = next(w for w in words if w < limit)
        j = word % bound
        out[i], out[j] = out[j], out[i]
    return out


def ring_order(client_ids: Iterable[int], *, seed: bytes) -> list[int]:
    """The clients in their positions on the round's ring (what ``neighbour_graph`` joins)."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"graph seeds are {SEED_BYTES} bytes")
    return _shuffled(sorted(set(client_ids)), seed)


def neighbour_graph(
    client_ids: Iterable[int], *, neighbours: int, seed: bytes
) -> dict[int, frozenset[int]]:
    """Map each client to its ``neighbours`` graph neighbours (never itself).

    ``neighbours == n - 1`` gives the complete graph (plain SecAgg); otherwise
    ``neighbours`` must be even and each client is joined to the k/2 clients on
    each side of it on the shuffled ring.
    """
    ids = sorted(set(client_ids))
    n, k = len(ids), neighbours
    if len(seed) != SEED_BYTES:
        raise ValueError(f"graph seeds are {SEED_BYTES} bytes")
    if not 1 <= k <= n - 1:
        raise ValueError("neighbours must be in 1..n-1")
    if k == n - 1:
        return {u: frozenset(v for v in ids if v != u) for u in ids}
    if k % 2:
        raise ValueError("a ring graph needs an even number of neighbours")
    ring = ring_order(ids, seed=seed)
    half = k // 2
    return {
        ring[i]: frozenset(ring[(i + d) % n] for d in range(-half, half + 1) if d)
        for i in range(n)
    }


def is_connected(graph: Mapping[int, frozenset[int]], nodes: Iterable[int]) -> bool:
    """Whether ``nodes`` induce a connected subgraph of ``graph``."""
    members = set(nodes)
    if not members:
        return False
    start = next(iter(members))
    seen, frontier = {start}, [start]
    while frontier:
        u = frontier.pop()
        for v in graph[u] & members:
            if v not in seen:
                seen.add(v)
                frontier.append(v)
    return seen == members


def survives_removal(ring: Sequence[int], *, neighbours: int, survivors: Iterable[int],
                     removed: int) -> bool:
    """Whether the survivors stay connected however any ``removed`` of them are taken out.

    This is what keeps the *honest* survivors' pair masks one connected component when up
    to ``removed`` survivors are colluders nobody can name. On the ring graph (each client
    joined to the k/2 positions on either side) a vertex set is disconnected exactly when
    two disjoint runs of k/2 consecutive positions hold none of it and both arcs between
    them still hold some; so the survivors survive ``removed`` removals iff every such pair
    of windows holds more than ``removed`` survivors, or one of its arcs holds none. The
    complete graph (k = n - 1) stays connected while anyone is left. With ``removed = 0``
    this is plain connectivity of the survivors.
    """
    members = set(survivors)
    n, half = len(ring), neighbours // 2
    if len(members) <= removed:
        return False
    if neighbours >= n - 1:
        return True
    alive = np.array([u in members for u in ring], dtype=np.int64)
    prefix = np.concatenate([[0], np.cumsum(np.concatenate([alive, alive]))])

    def count(start: np.ndarray, length: np.ndarray | int) -> np.ndarray:
        return prefix[start + length] - prefix[start]  # type: ignore[no-any-return]

    total = int(alive.sum())
    window = count(np.arange(n), half)  # survivors in positions [i, i + half)
    for i in range(n):
        # the second window starts g >= 0 positions after the first ends, and ends at
        # least 0 positions before the first begins again
        gaps = np.arange(0, n - 2 * half + 1)
        starts = (i + half + gaps) % n
        cut = window[i] + window[starts]
        inner = count(np.full(gaps.size, (i + half) % n), gaps)
        outer = total - window[i] - window[starts] - inner
        if np.any((cut <= removed) & (inner > 0) & (outer > 0)):
            return False
    return True
