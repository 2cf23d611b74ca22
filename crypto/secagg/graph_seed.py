"""The round's graph seed, drawn by the participants: commit first, reveal after.

Whoever picks the seed picks the neighbour graph, and a server that picks the graph can
surround a victim with its colluders. So nobody picks it:

0. every participant ``u`` draws 32 random bytes ``r_u`` and sends ``H(digest, u, r_u)``,
   signed with its enrolled identity key (the server cannot commit for anyone);
1. the server relays the commitments it got (the list ``L``); ``u`` checks every one is
   signed by a distinct participant and its own is there, then reveals ``r_u`` in its key
   advert, signed together with the digest of ``L`` (a reveal counts only under the one
   list its sender saw, and an honest client sees one list);
2. the server relays every advert; the seed is ``SHA-256(digest, digest(L), (v, r_v) for
   every revealer)``, and every client refuses reveals that do not open their commitment
   and more than ``max_unrevealed`` members of ``L`` without one. The graph joins the
   revealers only, so a participant lost before this point costs nobody a neighbour.

Every later message of the round is bound to the seed (:meth:`RoundContext.with_graph_seed`
puts it into the round digest), so clients shown different lists or reveals end up in
different rounds and only one of those can gather a quorum. Before any honest reveal the
server knows nothing the seed depends on; afterwards its only choice is which of at most
``max_unrevealed`` committed participants to leave out (colluders choosing not to reveal
are the same choice): at most ``sum_{j <= max_unrevealed} C(n, j)`` graphs, and a
participant's share is uniform and hidden until then, so the seed is uniform among them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence

from blindsum.crypto.hazmat.canonical import canonical
from blindsum.crypto.hazmat.prg import SEED_BYTES
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import KeyAdvert, SeedCommitment
from blindsum.errors import ProtocolError, ThresholdNotMetError

__all__ = [
    "check_commitments",
    "check_reveal",
    "commitment_to",
    "commitments_digest",
    "draw_share",
    "seeded_context",
]

_COMMIT_DOMAIN = b"secagg/graph-seed-commitment"
_LIST_DOMAIN = b"secagg/graph-seed-commitments"
_SEED_DOMAIN = b"secagg/graph-seed"


def draw_share() -> bytes:
    """A participant's share of the graph seed: 32 bytes from the OS CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


def commitment_to(context: RoundContext, sender: int, share: bytes) -> bytes:
    """``H(digest, sender, share)``: binding, and hiding because ``share`` is 256 random bits."""
    return hashlib.sha256(canonical(_COMMIT_DOMAIN, context.digest, sender, share)).digest()


def commitments_digest(context: RoundContext, commitments: Sequence[SeedCommitment]) -> bytes:
    """The digest of a commitment list, which every reveal is signed over."""
    ordered = sorted(commitments, key=lambda c: c.sender)
    return hashlib.sha256(canonical(
        _LIST_DOMAIN, context.digest,
        b"".join(c.sender.to_bytes(4, "big") + c.commitment for c in ordered))).digest()


def check_commitments(context: RoundContext, roster: Mapping[int, bytes],
                      commitments: Sequence[SeedCommitment]) -> dict[int, bytes]:
    """Each commitment's sender mapped to it, once every one is checked: from a distinct
    participant, signed with its enrolled key; at least ``min_survivors`` of them."""
    out: dict[int, bytes] = {}
    for c in commitments:
        if c.sender not in context.participants or c.sender in out:
            raise ProtocolError("seed commitments from non-participants or repeated")
        verify_signature(roster[c.sender], c.signature,
                         SeedCommitment.signed_payload(context.digest, c.sender, c.commitment))
        out[c.sender] = c.commitment
    need = context.params.min_survivors
    if len(out) < need:
        raise ThresholdNotMetError(f"only {len(out)} participants committed to the graph seed; "
                                   f"at least {need} are needed")
    return out


def check_reveal(context: RoundContext, roster: Mapping[int, bytes], seen: bytes,
                 committed: Mapping[int, bytes], advert: KeyAdvert) -> None:
    """Refuse an advert not signed over the commitment list ``seen`` (digest) by its sender,
    or whose reveal does not open the sender's commitment in that list."""
    if advert.sender not in committed:
        raise ProtocolError("an advert from a participant that did not commit to the seed")
    verify_signature(roster[advert.sender], advert.signature, advert.payload(context.digest, seen))
    if commitment_to(context, advert.sender, advert.seed_reveal) != committed[advert.sender]:
        raise ProtocolError("a graph-seed reveal does not open its sender's commitment")


def seeded_context(context: RoundContext, seen: bytes, committed: Mapping[int, bytes],
                   adverts: Sequence[KeyAdvert]) -> RoundContext:
    """The round's context with the joint graph seed of ``adverts`` (each already checked by
    :func:`check_reveal`), refusing more than ``max_unrevealed`` missing reveals."""
    revealers = sorted({a.sender for a in adverts})
    if len(revealers) != len(adverts):
        raise ProtocolError("two adverts from one participant")
    missing = len(set(committed) - set(revealers))
    limit = context.params.max_unrevealed
    if missing > limit:
        raise ThresholdNotMetError(
            f"{missing} participants committed to the graph seed but did not reveal; at most "
            f"{limit} may (each one left out gives the server a choice of graph)")
    reveals = {a.sender: a.seed_reveal for a in adverts}
    seed = hashlib.sha256(canonical(
        _SEED_DOMAIN, context.digest, seen,
        b"".join(v.to_bytes(4, "big") + reveals[v] for v in revealers))).digest()
    return context.with_graph_seed(seed, revealers)
