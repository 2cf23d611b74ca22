"""A scripted malicious SecAgg server over the real client state machines, and the attack
that matters: trying to reconstruct one client's exact input from everything it collected.

The server here is not :class:`SecAggServer`: it relays whatever its plan says (any subset
of adverts and envelopes to each client, any survivor set to each client, any signatures),
may leave out any participants' seed reveals to choose among graphs (``relay_adverts``),
keeps every message it ever saw, and may collude with clients (it then holds their keys
and the shares they received). :func:`reconstruct_inputs` then does what a real attacker
would: pools every share from every view, combines whatever reaches the threshold, and
unmasks every masked input whose masks it can now compute. A test asserts on the outcome
(the victim's input recovered, or not), not on which error a client raised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from blindsum.crypto.hazmat import kex, shamir
from blindsum.crypto.hazmat.feldman import GROUP_ORDER
from blindsum.crypto.hazmat.prg import MaskExpander
from blindsum.crypto.secagg import graph_seed
from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.keys import mask_private_key, self_mask_seed
from blindsum.crypto.secagg.messages import (
    ConsistencySignature,
    Exclusions,
    KeyAdvert,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.crypto.secagg.simulate import SimulatedCohort
from blindsum.crypto.secagg.stages import PAIR_MASK_DOMAIN, PAIR_MASK_PURPOSE, SELF_MASK_DOMAIN
from blindsum.errors import BlindsumError

T = TypeVar("T")


@dataclass
class Plan:
    """What the lying server shows each client.

    Attributes:
        adverts: per client, whose adverts it is shown (default: every relayed advert).
        held: per client, whose envelopes it is handed (default: every neighbour that shared).
        exclusions: per client, who it is told was excluded before masking (default: nobody).
        views: per client, the survivor set it is shown (no entry: it is shown nothing).
        signatures_for: per client, whose signatures over *its* view it is shown (default:
            every signature collected over that same view).
        colluders: clients that give the server everything they hold.
    """

    adverts: dict[int, AbstractSet[int]] = field(default_factory=dict)
    held: dict[int, AbstractSet[int]] = field(default_factory=dict)
    exclusions: dict[int, Exclusions] = field(default_factory=dict)
    views: dict[int, SurvivorSet] = field(default_factory=dict)
    signatures_for: dict[int, AbstractSet[int]] = field(default_factory=dict)
    colluders: AbstractSet[int] = field(default_factory=set)


@dataclass
class Collected:
    """Everything the server saw, plus what its colluders told it."""

    context: RoundContext | None = None  # with the graph seed the relayed adverts give
    contexts: dict[int, RoundContext] = field(default_factory=dict)  # what each client drew
    adverts: dict[int, KeyAdvert] = field(default_factory=dict)
    held: dict[int, set[int]] = field(default_factory=dict)  # whom each input is masked with
    masked: dict[int, np.ndarray] = field(default_factory=dict)
    unmask: list[UnmaskShares] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    colluder_mask_keys: dict[int, bytes] = field(default_factory=dict)
    colluder_shares: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)


class LyingServer:
    """Drives real :class:`SecAggClient` objects through a round the way ``plan`` says.

    Every client commits and advertises on construction; the server then sees every reveal
    before it decides whose adverts to relay (:meth:`relay_adverts`), which fixes the graph
    (``ctx``, ``graph``)."""

    def __init__(self, cohort: SimulatedCohort, *,
                 client_factory: Callable[[int], SecAggClient] | None = None) -> None:
        self.cohort = cohort
        base = cohort.context
        roster = cohort.roster
        make = client_factory or (lambda u: SecAggClient(
            base, client_id=u, identity_key=cohort.identity_keys[u], roster=roster,
            required=cohort.required))
        self.clients = {u: make(u) for u in base.participants}
        self.out = Collected()
        self.commitments = tuple(cl.commit_seed() for cl in self.clients.values())
        self.out.adverts = {u: cl.advertise_keys(self.commitments)
                            for u, cl in self.clients.items()}
        self._seen = graph_seed.commitments_digest(base, self.commitments)
        self._committed = {c.sender: c.commitment for c in self.commitments}
        self.relayed: tuple[KeyAdvert, ...] = ()

    def graph_if(self, left_out: AbstractSet[int]) -> RoundContext:
        """The context the clients would draw if the reveals of ``left_out`` were withheld."""
        return graph_seed.seeded_context(self.cohort.context, self._seen, self._committed,
                                         self._relayable(left_out))

    def _relayable(self, left_out: AbstractSet[int]) -> tuple[KeyAdvert, ...]:
        return tuple(a for u, a in sorted(self.out.adverts.items()) if u not in left_out)

    def relay_adverts(self, left_out: AbstractSet[int] = frozenset()) -> RoundContext:
        """Fix whose adverts are relayed (so the graph); the drawn context."""
        self.relayed = self._relayable(left_out)
        self.ctx = self.out.context = self.graph_if(left_out)
        self.graph = self.ctx.graph
        return self.ctx

    def _try(self, u: int, step: Callable[..., T], *args: object) -> T | None:
        try:
            return step(*args)
        except BlindsumError as exc:
            self.out.refused[u] = f"{type(exc).__name__}: {exc}"
            return None

    def run(self, plan: Plan, inputs: Mapping[int, np.ndarray]) -> Collected:
        if not self.relayed:
            self.relay_adverts()
        out, clients, graph = self.out, self.clients, self.graph
        relayed = {a.sender for a in self.relayed}
        envelopes: dict[int, list] = defaultdict(list)
        for u, cl in clients.items():
            if u not in relayed:
                continue
            shown = plan.adverts.get(u, relayed)
            sent = self._try(u, cl.share_keys, [out.adverts[v] for v in sorted(shown)])
            if sent is not None:
                out.contexts[u] = cl.context
            for env in sent or ():
                envelopes[env.recipient].append(env)
        for u, cl in clients.items():
            if u not in relayed:
                continue
            if u in plan.colluders:
                out.colluder_mask_keys[u] = kex.private_bytes(cl._mask_key)
            given = [e for e in envelopes[u] if e.sender in plan.held.get(u, graph[u])]
            if self._try(u, cl.check_shares, given) is None:
                continue
            masked = self._try(u, cl.mask_encoded, plan.exclusions.get(u, Exclusions()),
                               inputs[u])
            if masked is not None:
                out.masked[u] = masked.vector.copy()
                out.held[u] = set(cl._masked_with)
                if u in plan.colluders:
                    out.colluder_shares[u] = {v: (p.self_mask_share, p.mask_key_share)
                                              for v, p in cl._held.items()}
        signatures: dict[SurvivorSet, dict[int, ConsistencySignature]] = defaultdict(dict)
        for u, view in plan.views.items():
            signature = self._try(u, clients[u].consistency_check, view)
            if signature is not None:
                signatures[view][u] = signature
        for u, view in plan.views.items():
            if u not in signatures[view]:
                continue
            allowed = plan.signatures_for.get(u, set(signatures[view]))
            certificate = [s for v, s in sorted(signatures[view].items()) if v in allowed]
            revealed = self._try(u, clients[u].unmask, certificate)
            if revealed is not None:
                out.unmask.append(revealed)
        return out


def _reconstructed(shares: Mapping[int, int], t: int) -> bytes | None:
    """The secret if ``shares`` (all from honest holders, so on one polynomial) reach t."""
    if len(shares) < t:
        return None
    subset = dict(sorted(shares.items())[:t])
    return shamir.combine(subset, threshold=t)


def pooled_secrets(cohort: SimulatedCohort, seen: Collected) -> tuple[dict[int, bytes],
                                                                       dict[int, bytes]]:
    """Every self-mask seed and mask key the server can rebuild from all it collected
    (pair seeds revealed for dropped neighbours are counted in ``reconstruct_inputs``)."""
    t = cohort.context.params.threshold
    b_shares: dict[int, dict[int, int]] = defaultdict(dict)
    k_shares: dict[int, dict[int, int]] = defaultdict(dict)
    for message in seen.unmask:
        for owner, y in message.self_mask_shares.items():
            b_shares[owner][message.sender] = y
        for owner, y in message.mask_key_shares.items():
            k_shares[owner][message.sender] = y
    for holder, held in seen.colluder_shares.items():
        for owner, (b, k) in held.items():
            b_shares[owner][holder] = b
            k_shares[owner][holder] = k
    seeds = {u: self_mask_seed(s) for u, sh in b_shares.items()
             if (s := _reconstructed(sh, t)) is not None}
    keys = dict(seen.colluder_mask_keys)
    for u, sh in k_shares.items():
        if (secret := _reconstructed(sh, t)) is not None:
            key = _x25519_key(secret)
            if key is not None and kex.public_bytes(key) == seen.adverts[u].mask_public_key:
                keys[u] = kex.private_bytes(key)
    return seeds, keys


def _x25519_key(secret: bytes) -> X25519PrivateKey | None:
    """The X25519 key behind a rebuilt mask secret ``s``, or behind ``l - s`` (the same
    public key: a dealer may have shared either), whichever has a clamped form."""
    for scalar in (int.from_bytes(secret, "big"), GROUP_ORDER - int.from_bytes(secret, "big")):
        try:
            return mask_private_key(scalar.to_bytes(32, "big"))
        except ValueError:
            continue
    return None


def _pair_seed(ctx: RoundContext, seen: Collected, keys: Mapping[int, bytes],
               revealed: Mapping[frozenset[int], bytes], u: int, v: int) -> bytes | None:
    """The seed of the u-v pair mask if the server can know it, else None."""
    if frozenset((u, v)) in revealed:
        return revealed[frozenset((u, v))]
    owner, peer = (u, v) if u in keys else (v, u)
    if owner not in keys:
        return None
    return kex.derive_pair_key(kex.load_private_key(keys[owner]),
                               seen.adverts[peer].mask_public_key, purpose=PAIR_MASK_PURPOSE,
                               context=ctx.digest, first=min(u, v), second=max(u, v))


def _revealed_pairs(seen: Collected) -> dict[frozenset[int], bytes]:
    return {frozenset((m.sender, v)): seed for m in seen.unmask for v, seed in m.pair_seeds.items()}


def reconstruct_inputs(cohort: SimulatedCohort, seen: Collected) -> dict[int, np.ndarray]:
    """Every single client's encoded input the server can compute exactly, by unmasking it."""
    seeds, keys = pooled_secrets(cohort, seen)
    revealed = _revealed_pairs(seen)
    recovered: dict[int, np.ndarray] = {}
    for u, y in seen.masked.items():
        if u not in seeds:
            continue
        ctx = seen.contexts[u]  # the digest u derived its pair masks under
        pair_seeds = [(v, _pair_seed(ctx, seen, keys, revealed, u, v))
                      for v in sorted(seen.held[u])]
        if any(seed is None for _, seed in pair_seeds):
            continue
        x = y.copy()
        expander = MaskExpander(x.size, dtype=x.dtype, algorithm=ctx.params.prg)
        expander.subtract(x, seeds[u], domain=SELF_MASK_DOMAIN)
        for v, seed in pair_seeds:
            assert seed is not None
            (expander.subtract if u < v else expander.add)(x, seed, domain=PAIR_MASK_DOMAIN)
        recovered[u] = x
    return recovered


def exposed_sums(cohort: SimulatedCohort, seen: Collected) -> list[frozenset[int]]:
    """Every group of masked inputs whose sum the server can compute: each member's self
    mask is known and every pair mask leaving the group is known (those inside cancel).

    The minimal such groups are the components of the masked inputs joined by *unknown*
    pair masks that both ends added (so they cancel); a client with an unknown mask that
    its peer did not add (or a peer that sent no input) can be in no exposed group, and
    neither can a client whose self-mask seed is unknown.
    """
    seeds, keys = pooled_secrets(cohort, seen)
    revealed = _revealed_pairs(seen)
    parent = {u: u for u in seen.masked}

    def find(u: int) -> int:
        while parent[u] != u:
            u = parent[u]
        return u

    stuck: set[int] = set()
    for u in seen.masked:
        for v in seen.held[u]:
            if _pair_seed(seen.contexts[u], seen, keys, revealed, u, v) is not None:
                continue
            if v in seen.masked and u in seen.held[v] and seen.contexts[u] == seen.contexts[v]:
                parent[find(u)] = find(v)
            else:
                stuck.add(u)
    groups: dict[int, set[int]] = defaultdict(set)
    for u in seen.masked:
        groups[find(u)].add(u)
    return [frozenset(g) for g in groups.values()
            if all(u in seeds and u not in stuck for u in g)]
