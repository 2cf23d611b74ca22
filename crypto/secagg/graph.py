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

from blindsum.crypto.hazmat.prg import SEED_BYTES, MaskExpander

__all__ = ["is_connected", "neighbour_graph"]

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
    ring = _shuffled(ids, seed)
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
