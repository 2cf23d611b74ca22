"""Receipt checks for one client's message: pure functions over what the round has seen.

:class:`~blindsum.crypto.secagg.server.SecAggServer` calls them with its in-memory state
and the service calls them on receipt with the state it reads from storage, so a
message is refused for the same reason, in the same words, wherever it arrives. None
of them records anything; each raises :class:`~blindsum.errors.ProtocolError` (or a
signature error) on what an honest client never sends.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from blindsum.crypto.hazmat import kex
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.crypto.secagg import graph_seed
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.messages import (
    Accusations,
    ConsistencySignature,
    KeyAdvert,
    SeedCommitment,
    ShareEnvelope,
    SurvivorSet,
)
from blindsum.errors import ProtocolError, RoundStateError

__all__ = ["check_accusations", "check_admitted", "check_advert", "check_commitment",
           "check_envelopes", "check_new", "check_sender", "check_survivor_signature",
           "accuses_too_many"]


def check_sender(sender: int, authenticated: int) -> None:
    """A message names its sender; it must be the client that authenticated."""
    if sender != authenticated:
        raise ProtocolError("the message's sender is not the authenticated client")


def check_admitted(sender: int, allowed: Collection[int],
                   offenders: Mapping[int, str] | None = None) -> None:
    """Refuse an excluded offender (with its reason) and anyone not admitted to the stage."""
    if offenders and sender in offenders:
        raise ProtocolError("this client was excluded from the round: " + offenders[sender])
    if sender not in allowed:
        raise ProtocolError("this client is not admitted to this stage")


def check_new(sender: int, seen: Mapping[int, object], message: object) -> None:
    """One message per client and stage: the same again is a duplicate, another a refusal."""
    if sender in seen:
        if seen[sender] == message:
            raise RoundStateError("duplicate message (identical to the one already received)")
        raise ProtocolError("this client already sent a different message in this stage")


def check_commitment(context: RoundContext, identity_key: bytes,
                     commitment: SeedCommitment) -> None:
    """The graph-seed commitment must be signed by its sender over this round's digest."""
    verify_signature(identity_key, commitment.signature, SeedCommitment.signed_payload(
        context.digest, commitment.sender, commitment.commitment))


def check_advert(context: RoundContext, roster: Mapping[int, bytes], seen: bytes,
                 committed: Mapping[int, bytes], advert: KeyAdvert,
                 taken_keys: Collection[bytes] = ()) -> None:
    """Signed over the relayed commitments (digest ``seen``), opening its sender's commitment,
    with two usable keys distinct from each other and from ``taken_keys`` (another client's:
    an honest neighbour would otherwise have to leave the round)."""
    graph_seed.check_reveal(context, roster, seen, committed, advert)
    keys = {advert.cipher_public_key, advert.mask_public_key}
    if len(keys) != 2 or keys & set(taken_keys):
        raise ProtocolError("advertised public keys must be distinct from each other and "
                            "from every other client's")
    for key in keys:
        kex.check_public_key(key)


def check_envelopes(context: RoundContext, sender: int, recipients: Collection[int],
                    envelopes: Sequence[ShareEnvelope]) -> None:
    """One envelope from ``sender`` to each of ``recipients`` (its advertising neighbours),
    all with the same commitments to polynomials of the threshold's degree."""
    if any(e.sender != sender for e in envelopes) or \
            sorted(e.recipient for e in envelopes) != sorted(recipients):
        raise ProtocolError("envelopes must go to each advertising neighbour exactly once")
    if len({e.commitments for e in envelopes}) != 1 or any(
            len(e.self_mask_commitments) != context.params.threshold for e in envelopes):
        raise ProtocolError("every envelope must carry the same commitments, one point "
                            "per coefficient of a threshold-degree polynomial")


def accuses_too_many(inbox_size: int, accused: Collection[int], threshold: int) -> bool:
    """An honest client keeps at least t usable envelopes (it refuses to go on otherwise)."""
    return inbox_size - len(set(accused)) < threshold


def check_accusations(accusations: Accusations, inbox: Collection[int]) -> None:
    """A client may accuse only the senders of envelopes relayed to it."""
    if not set(accusations.accused) <= set(inbox):
        raise ProtocolError("a client may accuse only neighbours whose envelopes it got")


def check_survivor_signature(context: RoundContext, identity_key: bytes,
                             survivors: SurvivorSet, signature: ConsistencySignature) -> None:
    """The signature must be its sender's over this survivor set and the seeded digest."""
    verify_signature(identity_key, signature.signature, survivors.signed_payload(context.digest))
