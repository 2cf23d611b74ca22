"""SecAgg rounds over the service: store each message durably, replay into the state machine.

The protocol logic is :class:`~blindsum.crypto.secagg.server.SecAggServer`'s.
The service keeps no round state in memory: each accepted message is stored
(masked inputs as fsynced blobs) before it is acknowledged, and when a stage
closes the state machine is rebuilt by replaying every stored message of the
round, so a restarted or second worker reaches exactly the same state. Relays
(what each client must see next) are stored when a stage closes.

Messages are pre-checked on receipt (sizes, sender, signatures, addressing) so
bad ones are refused at once; on replay any message the state machine refuses
is skipped, as if its sender had dropped.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blindsum.aggregator import ledger, results, rounds
from blindsum.aggregator.blobs import BlobStore, BlobWriter
from blindsum.aggregator.models import ClientRow, FederationRow, MessageRow, RelayRow, RoundRow
from blindsum.crypto.hazmat import kex
from blindsum.crypto.hazmat.signing import verify_signature
from blindsum.crypto.secagg import graph_seed, wire
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.distributed_dp import DDGParams, decode_sum
from blindsum.crypto.secagg.messages import SeedCommitment
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.server import SecAggServer
from blindsum.crypto.secagg.unmasking import check_revealed_shares
from blindsum.errors import (
    BlindsumError,
    NotFoundError,
    ProtocolError,
    RoundStateError,
    WrongSizeError,
)

__all__ = [
    "STAGES",
    "PendingBlob",
    "close_stage",
    "context_of",
    "masked_input_bytes",
    "protocol_for",
    "receive",
    "relay_for",
]

STAGES = rounds.STAGES["secagg"]
COMMIT, ADVERTISE, SHARE, MASKED, CONSISTENCY, UNMASK = STAGES
_BROADCAST = 0


def required_params(federation: FederationRow, n: int) -> SecAggParams:
    """The round's SecAgg parameters: what the federation's declared rates give for n
    participants (every client derives the same and refuses less)."""
    return SecAggParams.derive(n, dropout_rate=federation.dropout_rate,
                               corruption_rate=federation.corruption_rate,
                               min_survivors=federation.min_clients)


def protocol_for(federation: FederationRow, n: int) -> dict[str, Any]:
    p = required_params(federation, n)
    protocol: dict[str, Any] = {
        "mode": "secagg", **p.to_json(), "clip_norm": federation.clip_norm,
        "max_clients": federation.max_clients, "dimension": federation.dimension}
    del protocol["num_clients"]
    if federation.client_dp is not None:
        ddg = ddg_params(federation, n, p)
        protocol |= {"dimension": ddg.padded, "ddg": ddg.to_json()}
    return protocol


def ddg_params(federation: FederationRow, n: int, params: SecAggParams) -> DDGParams:
    """The round's distributed-DP encoding: every client derives and checks the same."""
    assert federation.client_dp is not None
    return DDGParams.derive(dimension=federation.dimension, clip=federation.clip_norm,
                            noise_multiplier=float(federation.client_dp["noise_multiplier"]),
                            min_survivors=params.min_survivors, max_clients=n,
                            bits=params.bits, colluders=params.max_corrupted)


def context_of(round_row: RoundRow) -> RoundContext:
    """The round's public context, rebuilt from what the round row stores."""
    return RoundContext.from_protocol(
        federation=round_row.federation_id, round_number=round_row.number,
        round_seed=round_row.round_seed, participants=round_row.participants,
        protocol=round_row.protocol)


def _roster(session: Session, ids: list[int]) -> dict[int, bytes]:
    rows = session.scalars(select(ClientRow).where(ClientRow.id.in_(ids)))
    return {r.id: r.identity_key for r in rows}


def _relay(session: Session, round_id: str, stage: str, recipient: int) -> Any:
    row = session.get(RelayRow, (round_id, stage, recipient)) or session.get(
        RelayRow, (round_id, stage, _BROADCAST))
    if row is None:
        raise NotFoundError(f"nothing relayed for stage {stage!r} (has it closed?)")
    return json.loads(row.body)


def relay_for(session: Session, round_row: RoundRow, stage: str, client_id: int) -> Any:
    """What the server relays to ``client_id`` after ``stage`` closed."""
    if stage not in STAGES[:-1]:
        raise NotFoundError("no relay for that stage")
    return _relay(session, round_row.id, stage, client_id)


def _encode(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _precheck(session: Session, round_row: RoundRow, client: ClientRow, stage: str,
              payload: Any) -> None:
    """Refuse what is certainly wrong before storing it (the replay checks everything)."""
    ctx = context_of(round_row)
    k = ctx.params.neighbours
    if stage == COMMIT:
        commitment = wire.commitment_from_json(payload)
        _check_sender(commitment.sender, client)
        verify_signature(client.identity_key, commitment.signature, SeedCommitment.signed_payload(
            ctx.digest, commitment.sender, commitment.commitment))
    elif stage == ADVERTISE:
        advert = wire.advert_from_json(payload)
        _check_sender(advert.sender, client)
        seen, committed = _commitments(session, round_row, ctx)
        graph_seed.check_reveal(ctx, {client.id: client.identity_key}, seen, committed, advert)
        if advert.cipher_public_key == advert.mask_public_key:
            raise ProtocolError("the two advertised public keys must differ")
        for key in (advert.cipher_public_key, advert.mask_public_key):
            kex.check_public_key(key)
    elif stage == SHARE:
        envelopes = wire.envelopes_from_json(payload, limit=k, threshold=ctx.params.threshold)
        allowed = _seeded(session, round_row).graph[client.id] & {
            a["sender"] for a in _relay(session, round_row.id, ADVERTISE, _BROADCAST)}
        if any(e.sender != client.id for e in envelopes) or \
                sorted(e.recipient for e in envelopes) != sorted(allowed):
            raise ProtocolError("envelopes must go to each advertising neighbour exactly once")
        if len({e.commitments for e in envelopes}) > 1 or any(
                len(e.self_mask_commitments) != ctx.params.threshold for e in envelopes):
            raise ProtocolError("every envelope must carry the same commitments, one point "
                                "per coefficient of a threshold-degree polynomial")
    elif stage == CONSISTENCY:
        sig = wire.signature_from_json(payload)
        _check_sender(sig.sender, client)
        survivors = wire.survivors_from_json(_relay(session, round_row.id, MASKED, _BROADCAST))
        verify_signature(client.identity_key, sig.signature,
                         survivors.signed_payload(_seeded(session, round_row).digest))
    elif stage == UNMASK:
        shares = wire.unmask_from_json(payload, limit=k)
        _check_sender(shares.sender, client)
        try:
            survivors = wire.survivors_from_json(
                _relay(session, round_row.id, MASKED, _BROADCAST))
        except NotFoundError:
            raise RoundStateError(f"the round is in stage {round_row.stage!r}, not "
                                  f"{UNMASK!r}") from None
        check_revealed_shares(survivors, shares, *_envelopes_of(session, round_row, client.id))


def _commitments(session: Session, round_row: RoundRow, ctx: RoundContext
                 ) -> tuple[bytes, dict[int, bytes]]:
    """The digest of the relayed seed commitments, and each committer's commitment."""
    relayed = wire.commitments_from_json(_relay(session, round_row.id, COMMIT, _BROADCAST),
                                         limit=len(round_row.participants))
    return (graph_seed.commitments_digest(ctx, relayed),
            {c.sender: c.commitment for c in relayed})


def _seeded(session: Session, round_row: RoundRow) -> RoundContext:
    """The round's context with its graph seed, from the relayed commitments and adverts."""
    ctx = context_of(round_row)
    seen, committed = _commitments(session, round_row, ctx)
    adverts = wire.adverts_from_json(_relay(session, round_row.id, ADVERTISE, _BROADCAST),
                                     limit=len(round_row.participants))
    return graph_seed.seeded_context(ctx, seen, committed, adverts)


def _envelopes_of(session: Session, round_row: RoundRow, client_id: int
                  ) -> tuple[set[int], set[int]]:
    """Whose shares a client holds (envelopes relayed to it, less the senders it accused),
    and whom it masked with (every sender of an envelope relayed to it)."""
    relayed = {e["sender"] for e in _relay(session, round_row.id, SHARE, client_id)}
    masked = session.scalar(select(MessageRow.body).where(
        MessageRow.round_id == round_row.id, MessageRow.stage == MASKED,
        MessageRow.sender == client_id))
    accused = set(_accused(masked, context_of(round_row))) if masked else set()
    return relayed - accused, relayed


def _check_sender(sender: int, client: ClientRow) -> None:
    if sender != client.id:
        raise ProtocolError("the message's sender is not the authenticated client")


def receive(session: Session, blobs: BlobStore, round_row: RoundRow, client: ClientRow,
            stage: str, payload: Any) -> bool:
    """Pre-check, store durably and record one message; close the stage when all are in.

    ``payload`` is parsed JSON, or the masked input (bytes or a :class:`PendingBlob`).
    Returns True if newly stored; the same message again is acknowledged with False
    whatever stage the round is in (a retry after a lost response).
    """
    if stage not in STAGES:
        raise NotFoundError("no such stage")
    if str(client.id) in (round_row.offenders or {}):
        raise ProtocolError("this client was excluded from the round: "
                            + round_row.offenders[str(client.id)])  # type: ignore[index]
    body, blob, writer = _prepare(session, blobs, round_row, client, stage, payload)
    try:
        new = _record(session, round_row, client, stage, body, blob, writer)
    finally:
        if writer is not None:
            writer.discard()  # a no-op once published; removes a refused upload's bytes
    if rounds.stage_message_count(session, round_row.id, stage) >= _expected_count(
            session, round_row, stage):
        try:
            close_stage(session, blobs, round_row, stage)
        except RoundStateError:
            session.refresh(round_row)  # closed already (by another worker, or earlier)
    return new


def _prepare(session: Session, blobs: BlobStore, round_row: RoundRow, client: ClientRow,
             stage: str, payload: Any) -> tuple[bytes, str | None, BlobWriter | None]:
    """Check what can be checked before storing; the stored body, blob digest and writer."""
    if stage != MASKED:
        _precheck(session, round_row, client, stage, payload)
        return _encode(payload), None, None
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    ledger.check_within_budget(session, federation, client)
    accused = payload.accused if isinstance(payload, PendingBlob) else ()
    inbox = {e["sender"] for e in _relay(session, round_row.id, SHARE, client.id)}
    if not set(accused) <= inbox:
        raise ProtocolError("a client may accuse only neighbours whose envelopes it got")
    blob, writer = _masked_input_digest(blobs, round_row, client, payload)
    return _encode(wire.accused_to_json(sorted(set(accused)))), blob, writer


def _record(session: Session, round_row: RoundRow, client: ClientRow, stage: str, body: bytes,
            blob: str | None, writer: BlobWriter | None) -> bool:
    """Record the message exactly once, publishing its blob first; True if new."""
    if rounds.already_recorded(session, round_row.id, stage, client.id, body, blob=blob):
        return False
    try:
        rounds.lock_stage(session, round_row, stage)
        if not _admitted(session, round_row, stage, client.id):
            raise ProtocolError("this client is not admitted to this stage")
        _, new = rounds.record_message(session, round_row, stage, client.id, body, blob=blob)
        if not new:  # recorded concurrently with the same bytes: acknowledged
            session.rollback()
            return False
        if writer is not None:
            writer.commit()  # durable under its digest before the row naming it commits
        session.commit()
        return True
    except BaseException:
        session.rollback()
        raise


@dataclass(frozen=True)
class PendingBlob:
    """An upload streamed (and fsynced) by the HTTP layer but not yet published: it becomes a
    blob only if the message is accepted. ``accused``: the neighbours whose envelopes the
    sender could not use (they are excluded from the round)."""

    writer: BlobWriter
    accused: tuple[int, ...] = ()


def masked_input_bytes(round_row: RoundRow) -> int:
    """The exact size of a masked input in this round."""
    ctx = context_of(round_row)
    return ctx.dimension * ctx.codec.dtype.itemsize


def _masked_input_digest(blobs: BlobStore, round_row: RoundRow, client: ClientRow,
                         payload: bytes | PendingBlob) -> tuple[str, BlobWriter]:
    """The digest a masked input of the right size will be stored under, and its writer
    (its words are uniform: nothing more can be checked on receipt)."""
    expected = masked_input_bytes(round_row)
    if isinstance(payload, PendingBlob):
        digest, size = payload.writer.finish()
        if size != expected:
            raise WrongSizeError(f"a masked input is exactly {expected} bytes, got {size}")
        return digest, payload.writer
    ctx = context_of(round_row)
    wire.masked_input_from_bytes(client.id, payload, dimension=ctx.dimension,
                                 dtype=ctx.codec.dtype)
    writer = blobs.writer(max_bytes=len(payload))
    writer.write(payload)
    return writer.finish()[0], writer


_LISTED = (COMMIT, ADVERTISE, SHARE, CONSISTENCY, UNMASK)
"""Stages whose senders are listed in one place (the others': one relay row each)."""


def _admitted(session: Session, round_row: RoundRow, stage: str, client_id: int) -> bool:
    """May ``client_id`` send in ``stage``? (One indexed lookup: uploads stay O(1) in n.)"""
    if stage in _LISTED:
        return client_id in _expected(session, round_row, stage)
    previous = STAGES[STAGES.index(stage) - 1]
    return session.get(RelayRow, (round_row.id, previous, client_id)) is not None


def _expected_count(session: Session, round_row: RoundRow, stage: str) -> int:
    if stage in _LISTED:
        return len(_expected(session, round_row, stage))
    previous = STAGES[STAGES.index(stage) - 1]
    return int(session.scalar(select(func.count()).select_from(RelayRow).where(
        RelayRow.round_id == round_row.id, RelayRow.stage == previous)) or 0)


def _expected(session: Session, round_row: RoundRow, stage: str) -> set[int]:
    """Who may (and is waited for to) send in a stage whose senders are listed in one place."""
    if stage == COMMIT:
        return set(round_row.participants)
    if stage in (ADVERTISE, SHARE):
        previous = STAGES[STAGES.index(stage) - 1]
        return {m["sender"] for m in _relay(session, round_row.id, previous, _BROADCAST)}
    if stage == CONSISTENCY:
        return set(_relay(session, round_row.id, MASKED, _BROADCAST)["survivors"])
    assert stage == UNMASK
    return {s["sender"] for s in _relay(session, round_row.id, CONSISTENCY, _BROADCAST)}


def _replay(session: Session, blobs: BlobStore, round_row: RoundRow, upto: str) -> SecAggServer:
    """Rebuild the state machine from the stored messages of every stage up to ``upto``."""
    ctx = context_of(round_row)
    server = SecAggServer(ctx, roster=_roster(session, round_row.participants))
    closers = [server.close_commit_seed, server.close_advertise_keys, server.close_share_keys,
               server.close_masked_input, server.close_consistency]
    for index, stage in enumerate(STAGES[: STAGES.index(upto) + 1]):
        messages = rounds.stage_messages(session, round_row.id, stage)
        if stage == MASKED:  # every accusation before any vector it names is summed
            for message in messages:
                with contextlib.suppress(BlindsumError):
                    server.note_accusations(message.sender, _accused(message.body, ctx))
        for message in messages:
            try:
                _feed(server, ctx, stage, message.sender, message.body,
                      None if message.blob is None else blobs.get(message.blob))
            except BlindsumError:
                continue  # refused on replay: as if this client had dropped
        if stage != upto:
            closers[index]()
    return server


def _accused(body: bytes, ctx: RoundContext) -> tuple[int, ...]:
    return wire.accused_from_json(json.loads(body), limit=ctx.params.neighbours)


def _feed(server: SecAggServer, ctx: RoundContext, stage: str, sender: int, body: bytes,
          data: bytes | None) -> None:
    k = ctx.params.neighbours
    if stage == MASKED:
        assert data is not None
        server.receive_masked_input(wire.masked_input_from_bytes(
            sender, data, dimension=ctx.dimension, dtype=ctx.codec.dtype,
            accused=_accused(body, ctx)))
        return
    payload = json.loads(body)
    if stage == COMMIT:
        server.receive_commitment(wire.commitment_from_json(payload))
    elif stage == ADVERTISE:
        server.receive_advert(wire.advert_from_json(payload))
    elif stage == SHARE:
        server.receive_shares(sender, wire.envelopes_from_json(
            payload, limit=k, threshold=ctx.params.threshold))
    elif stage == CONSISTENCY:
        server.receive_consistency(wire.signature_from_json(payload))
    else:
        server.receive_unmask(wire.unmask_from_json(payload, limit=k))


def close_stage(session: Session, blobs: BlobStore, round_row: RoundRow, stage: str) -> None:
    """End ``stage`` (all answered, deadline, or the admin): relay, advance, or abort."""
    rounds.lock_stage(session, round_row, stage)
    timeout = _timeout(session, round_row)
    server: SecAggServer | None = None
    try:
        server = _replay(session, blobs, round_row, stage)
        relays = _close(server, stage, round_row)
    except BlindsumError as exc:
        rounds.abort_round(session, round_row, f"{type(exc).__name__}: {exc}")
        if server is not None:
            _record_offenders(round_row, server)
        session.commit()
        return
    _record_offenders(round_row, server)
    if stage == UNMASK:
        _publish(session, blobs, round_row, relays)
    else:
        for recipient, value in relays.items():
            session.add(RelayRow(round_id=round_row.id, stage=stage, recipient=recipient,
                                 body=_encode(value)))
        rounds.advance(session, round_row, STAGES[STAGES.index(stage) + 1], timeout)
    session.commit()


def _record_offenders(round_row: RoundRow, server: SecAggServer) -> None:
    """Keep who the round excluded, and why, on the round (its later messages are refused)."""
    if server.offenders:
        round_row.offenders = {str(u): why for u, why in sorted(server.offenders.items())}


def _timeout(session: Session, round_row: RoundRow) -> float:
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    return federation.stage_timeout_seconds


def _close(server: SecAggServer, stage: str, round_row: RoundRow) -> dict[int, Any]:
    if stage == COMMIT:
        return {_BROADCAST: [wire.commitment_to_json(c) for c in server.close_commit_seed()]}
    if stage == ADVERTISE:
        return {_BROADCAST: [wire.advert_to_json(a) for a in server.close_advertise_keys()]}
    if stage == SHARE:
        return {u: wire.envelopes_to_json(envs) for u, envs in server.close_share_keys().items()}
    if stage == MASKED:
        return {_BROADCAST: wire.survivors_to_json(server.close_masked_input())}
    if stage == CONSISTENCY:
        return {_BROADCAST: [wire.signature_to_json(s) for s in server.close_consistency()]}
    result = server.finalize()
    if "ddg" in round_row.protocol:  # distributed DP: centre, rotate back, rescale
        decoded = decode_sum(result.total, DDGParams.from_json(round_row.protocol["ddg"]),
                             round_row.round_seed)
    else:
        decoded = server.context.codec.dequantize_sum(result.total, len(result.contributors))
    return {_BROADCAST: (decoded, list(result.contributors))}


def _publish(session: Session, blobs: BlobStore, round_row: RoundRow,
             relays: dict[int, Any]) -> None:
    decoded, contributors = relays[_BROADCAST]
    results.publish(session, blobs, round_row, decoded, contributors)
