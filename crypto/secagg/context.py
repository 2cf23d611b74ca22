"""The public context of one SecAgg round, and the canonical bytes everything signs.

Every key derivation, envelope and signature of a round is bound to
:attr:`RoundContext.digest`, a SHA-256 over the federation, round number, round
seed, participant ids, protocol parameters, vector length and codec, so no
message can be replayed into another round or reinterpreted under other
parameters. The neighbour graph is not known when a round opens: it is drawn
from the participants' commitments and reveals
(:mod:`blindsum.crypto.secagg.graph_seed`), and the context that carries it
(:meth:`RoundContext.with_graph_seed`) has a digest of its own, which every
message from share-keys on is bound to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec
from blindsum.crypto.hazmat.prg import SEED_BYTES, PrgAlgorithm
from blindsum.crypto.secagg.graph import neighbour_graph, ring_order, survives_removal
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.errors import ConfigError, RoundStateError

__all__ = ["MAX_CLIENT_ID", "RoundContext"]

MAX_CLIENT_ID = 2**32 - 1
_DOMAIN = b"blindsum/v1/secagg"


@dataclass(frozen=True)
class RoundContext:
    """Everything public about a round, fixed before any key is advertised.

    Attributes:
        federation: the federation's id.
        round_number: the round's number within the federation.
        round_seed: 32 public random bytes chosen when the round opens (the server's
            choice: it does not decide the graph).
        participants: the sorted ids of the invited clients (1 .. 2^32-1).
        params: neighbourhood size, threshold and ring.
        dimension: length of the update vector.
        codec: the fixed-point encoding (its word size must match ``params.bits``).
        graph_seed: the joint seed of the neighbour graph, once the reveals are in
            (``None`` before: the commit and advertise stages have no graph).
        graph_members: the participants whose reveals drew it: the graph's vertices (one
            that dropped before revealing costs nobody a neighbour).
    """

    federation: str
    round_number: int
    round_seed: bytes
    participants: tuple[int, ...]
    params: SecAggParams
    dimension: int
    codec: FixedPointCodec
    graph_seed: bytes | None = None
    graph_members: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if len(self.round_seed) != SEED_BYTES:
            problems.append(f"round_seed must be {SEED_BYTES} bytes")
        if self.graph_seed is not None and len(self.graph_seed) != SEED_BYTES:
            problems.append(f"graph_seed must be {SEED_BYTES} bytes")
        members = self.graph_members
        if list(members) != sorted(set(members)) or not set(members) <= set(self.participants) \
                or (self.graph_seed is None) != (not members) or len(members) == 1:
            problems.append("graph_members must be sorted distinct participants, given exactly "
                            "with a graph seed")
        if list(self.participants) != sorted(set(self.participants)):
            problems.append("participants must be sorted and distinct")
        if any(not 0 < p <= MAX_CLIENT_ID for p in self.participants):
            problems.append(f"client ids must be in 1..{MAX_CLIENT_ID}")
        if len(self.participants) != self.params.num_clients:
            problems.append("params.num_clients differs from the number of participants")
        if self.codec.bits != self.params.bits:
            problems.append("codec word size differs from params.bits")
        if self.codec.max_clients < len(self.participants):
            problems.append("codec.max_clients is smaller than the cohort: the sum could wrap")
        if self.dimension < 1:
            problems.append("dimension must be positive")
        if problems:
            raise ConfigError("invalid round context: " + "; ".join(problems))

    @classmethod
    def from_protocol(cls, *, federation: str, round_number: int, round_seed: bytes,
                      participants: Sequence[int], protocol: Mapping[str, Any]) -> RoundContext:
        """The context from a round's published protocol parameters (what the service sends).

        The service and every client build the context with this one function, so
        they derive the same digest, graph and codec.
        """
        try:
            params = SecAggParams(
                num_clients=len(participants), neighbours=int(protocol["neighbours"]),
                threshold=int(protocol["threshold"]),
                min_survivors=int(protocol["min_survivors"]), bits=int(protocol["bits"]),
                prg=PrgAlgorithm(protocol["prg"]), max_corrupted=int(protocol["max_corrupted"]),
                quorum=int(protocol["quorum"]), max_unrevealed=int(protocol["max_unrevealed"]))
            codec = FixedPointCodec.create(bits=params.bits,  # type: ignore[arg-type]
                                           clip_norm=float(protocol["clip_norm"]),
                                           max_clients=int(protocol["max_clients"]))
            dimension = int(protocol["dimension"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"incomplete secagg protocol parameters: {exc}") from exc
        return cls(federation=federation, round_number=round_number, round_seed=round_seed,
                   participants=tuple(participants), params=params, dimension=dimension,
                   codec=codec)

    @cached_property
    def digest(self) -> bytes:
        """SHA-256 of the canonical encoding of the whole context."""
        p, c = self.params, self.codec
        encoded = canonical(
            _DOMAIN, self.federation, self.round_number, self.round_seed,
            b"".join(i.to_bytes(4, "big") for i in self.participants),
            p.num_clients, p.neighbours, p.threshold, p.min_survivors, p.bits, p.prg.value,
            p.max_corrupted, p.quorum, p.max_unrevealed,
            self.dimension, c.bits, repr(c.clip_norm), c.max_clients,
            b"" if self.graph_seed is None else self.graph_seed,
            b"".join(i.to_bytes(4, "big") for i in self.graph_members),
        )
        return hashlib.sha256(encoded).digest()

    def with_graph_seed(self, graph_seed: bytes, members: Sequence[int]) -> RoundContext:
        """This context once the graph seed is drawn over ``members`` (a new digest, a graph)."""
        if self.graph_seed is not None:
            raise RoundStateError("the round's graph seed is drawn once")
        return replace(self, graph_seed=graph_seed, graph_members=tuple(sorted(members)))

    @property
    def degree(self) -> int:
        """Neighbours per client in the drawn graph: k, or all other members if fewer."""
        return min(self.params.neighbours, len(self.graph_members) - 1)

    def _seed(self) -> bytes:
        if self.graph_seed is None:
            raise RoundStateError("the neighbour graph is drawn from the participants' seed "
                                  "reveals: it is known only once advertise-keys has closed")
        return self.graph_seed

    @cached_property
    def graph(self) -> dict[int, frozenset[int]]:
        """The public neighbour graph of this round."""
        return neighbour_graph(self.graph_members, neighbours=self.degree, seed=self._seed())

    @cached_property
    def ring(self) -> list[int]:
        """The participants in their ring positions (the graph joins ring neighbours)."""
        return ring_order(self.graph_members, seed=self._seed())

    def stays_connected(self, members: Iterable[int]) -> bool:
        """Whether ``members`` stay connected in the graph however the round's tolerated
        colluders (``params.max_corrupted``) among them are removed."""
        return survives_removal(self.ring, neighbours=self.degree, survivors=members,
                                removed=self.params.max_corrupted)
