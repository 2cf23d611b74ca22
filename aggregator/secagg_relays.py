"""What a SecAgg round's stored relays say: the one place the service reads them back.

Relays are stored when a stage closes (per recipient, or once for everyone under
recipient ``BROADCAST``); from them the service rebuilds what receipt checks need: the
round's context with its graph seed, who was excluded, whose shares a client holds.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blindsum.aggregator import rounds
from blindsum.aggregator.models import MessageRow, RelayRow, RoundRow
from blindsum.crypto.secagg import graph_seed, wire
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.stages import RELAY_STAGES, Stage
from blindsum.errors import NotFoundError

__all__ = ["ADVERTISE", "BROADCAST", "CHECK", "COMMIT", "CONSISTENCY", "MASKED", "SHARE",
           "STAGES", "UNMASK", "commitments_seen", "context_of", "envelopes_of",
           "excluded", "relay", "relay_for", "seeded_context"]

STAGES = rounds.STAGES["secagg"]
COMMIT, ADVERTISE, SHARE, CHECK = (Stage.COMMIT_SEED.value, Stage.ADVERTISE_KEYS.value,
                                   Stage.SHARE_KEYS.value, Stage.CHECK_SHARES.value)
MASKED, CONSISTENCY, UNMASK = (Stage.MASKED_INPUT.value, Stage.CONSISTENCY_CHECK.value,
                               Stage.UNMASK.value)
RELAYED = tuple(stage.value for stage in RELAY_STAGES)
BROADCAST = 0
"""The recipient id of a relay meant for every client of the round."""


def context_of(round_row: RoundRow) -> RoundContext:
    """The round's public context, rebuilt from what the round row stores."""
    return RoundContext.from_protocol(
        federation=round_row.federation_id, round_number=round_row.number,
        round_seed=round_row.round_seed, participants=round_row.participants,
        protocol=round_row.protocol)


def relay(session: Session, round_id: str, stage: str, recipient: int) -> Any:
    """A stored relay: the recipient's own, else the one for everyone."""
    row = session.get(RelayRow, (round_id, stage, recipient)) or session.get(
        RelayRow, (round_id, stage, BROADCAST))
    if row is None:
        raise NotFoundError(f"nothing relayed for stage {stage!r} (has it closed?)")
    return json.loads(row.body)


def relay_for(session: Session, round_row: RoundRow, stage: str, client_id: int) -> Any:
    """What the server relays to ``client_id`` after ``stage`` closed."""
    if stage not in RELAYED:
        raise NotFoundError("no relay for that stage")
    return relay(session, round_row.id, stage, client_id)


def commitments_seen(session: Session, round_row: RoundRow, ctx: RoundContext
                 ) -> tuple[bytes, dict[int, bytes]]:
    """The digest of the relayed seed commitments, and each committer's commitment."""
    relayed = wire.commitments_from_json(relay(session, round_row.id, COMMIT, BROADCAST),
                                         limit=len(round_row.participants))
    return (graph_seed.commitments_digest(ctx, relayed),
            {c.sender: c.commitment for c in relayed})


_SEEDED: dict[str, RoundContext] = {}
_SEEDED_KEPT = 64


def seeded_context(session: Session, round_row: RoundRow) -> RoundContext:
    """The round's context with its graph seed, from the relayed commitments and adverts.

    Both relays are written once, when their stage closes, so the result is kept per round
    (a few rounds per worker): share-keys and consistency checks need it on every message,
    and rebuilding it reads O(n) adverts."""
    cached = _SEEDED.get(round_row.id)
    if cached is not None:
        return cached
    ctx = context_of(round_row)
    seen, committed = commitments_seen(session, round_row, ctx)
    adverts = wire.adverts_from_json(relay(session, round_row.id, ADVERTISE, BROADCAST),
                                     limit=len(round_row.participants))
    seeded = graph_seed.seeded_context(ctx, seen, committed, adverts)
    if len(_SEEDED) >= _SEEDED_KEPT:
        _SEEDED.pop(next(iter(_SEEDED)))
    _SEEDED[round_row.id] = seeded
    return seeded


def envelopes_of(session: Session, round_row: RoundRow, client_id: int
                  ) -> tuple[set[int], set[int]]:
    """Whose shares a client holds (envelopes relayed to it, less the senders it accused),
    and whom it masked with (the senders of those envelopes, less the excluded)."""
    relayed = {e["sender"] for e in relay(session, round_row.id, SHARE, client_id)}
    body = session.scalar(select(MessageRow.body).where(
        MessageRow.round_id == round_row.id, MessageRow.stage == CHECK,
        MessageRow.sender == client_id))
    k = context_of(round_row).params.neighbours
    accused = set(wire.accusations_from_json(json.loads(body), limit=k).accused) if body \
        else set()
    return relayed - accused, relayed - excluded(session, round_row)


def excluded(session: Session, round_row: RoundRow) -> set[int]:
    """Who the check-shares stage excluded (nobody masks with them)."""
    relayed = relay(session, round_row.id, CHECK, BROADCAST)
    return set(wire.exclusions_from_json(relayed, limit=len(round_row.participants)).excluded)
