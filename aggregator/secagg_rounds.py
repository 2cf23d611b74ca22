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

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blindsum.aggregator import ledger, results, rounds
from blindsum.aggregator.blobs import BlobStore, BlobWriter
from blindsum.aggregator.models import ClientRow, FederationRow, RelayRow, RoundRow
from blindsum.aggregator.secagg_relays import (
    ADVERTISE,
    BROADCAST,
    CHECK,
    COMMIT,
    CONSISTENCY,
    MASKED,
    SHARE,
    STAGES,
    UNMASK,
    commitments_seen,
    context_of,
    envelopes_of,
    excluded,
    relay,
    relay_for,
    seeded_context,
)
from blindsum.crypto.secagg import admission, wire
from blindsum.crypto.secagg.context import RoundContext
from blindsum.crypto.secagg.distributed_dp import DDGParams, decode_sum
from blindsum.crypto.secagg.params import SecAggParams
from blindsum.crypto.secagg.server import SecAggServer
from blindsum.crypto.secagg.unmasking import check_revealed_shares
from blindsum.errors import (
    BlindsumError,
    NotFoundError,
    RoundStateError,
    WrongSizeError,
)
from blindsum.wire import SecAggProtocol

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



def required_params(federation: FederationRow, n: int) -> SecAggParams:
    """The round's SecAgg parameters: what the federation's declared rates give for n
    participants (every client derives the same and refuses less)."""
    return SecAggParams.derive(n, dropout_rate=federation.dropout_rate,
                               corruption_rate=federation.corruption_rate,
                               min_survivors=federation.min_clients)


def protocol_for(federation: FederationRow, n: int) -> SecAggProtocol:
    """The round's public protocol, as every client re-derives it."""
    p = required_params(federation, n)
    ddg = ddg_params(federation, n, p) if federation.client_dp is not None else None
    return SecAggProtocol.model_validate({
        "mode": "secagg", **{k: v for k, v in p.to_json().items() if k != "num_clients"},
        "clip_norm": federation.clip_norm, "max_clients": federation.max_clients,
        "dimension": federation.dimension if ddg is None else ddg.padded,
        "ddg": None if ddg is None else ddg.to_json()})


def ddg_params(federation: FederationRow, n: int, params: SecAggParams) -> DDGParams:
    """The round's distributed-DP encoding: every client derives and checks the same."""
    assert federation.client_dp is not None
    return DDGParams.derive(dimension=federation.dimension, clip=federation.clip_norm,
                            noise_multiplier=float(federation.client_dp["noise_multiplier"]),
                            min_survivors=params.min_survivors, max_clients=n,
                            bits=params.bits, colluders=params.max_corrupted)


def _roster(session: Session, ids: list[int]) -> dict[int, bytes]:
    rows = session.scalars(select(ClientRow).where(ClientRow.id.in_(ids)))
    return {r.id: r.identity_key for r in rows}


def _encode(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _precheck(session: Session, round_row: RoundRow, client: ClientRow, stage: str,
              payload: Any) -> None:
    """Refuse what is certainly wrong before storing it, with the state machine's own checks
    (:mod:`blindsum.crypto.secagg.admission`) over what storage holds; the replay at close
    checks everything."""
    ctx = context_of(round_row)
    k = ctx.params.neighbours
    if stage == COMMIT:
        commitment = wire.commitment_from_json(payload)
        admission.check_sender(commitment.sender, client.id)
        admission.check_commitment(ctx, client.identity_key, commitment)
    elif stage == ADVERTISE:
        advert = wire.advert_from_json(payload)
        admission.check_sender(advert.sender, client.id)
        seen, committed = commitments_seen(session, round_row, ctx)
        admission.check_advert(ctx, {client.id: client.identity_key}, seen, committed, advert)
    elif stage == SHARE:
        envelopes = wire.envelopes_from_json(payload, limit=k, threshold=ctx.params.threshold)
        recipients = seeded_context(session, round_row).graph[client.id] & {
            a["sender"] for a in relay(session, round_row.id, ADVERTISE, BROADCAST)}
        admission.check_envelopes(ctx, client.id, recipients, envelopes)
    elif stage == CHECK:
        accusations = wire.accusations_from_json(payload, limit=k)
        admission.check_sender(accusations.sender, client.id)
        admission.check_accusations(accusations, {
            e["sender"] for e in relay(session, round_row.id, SHARE, client.id)})
    elif stage == CONSISTENCY:
        sig = wire.signature_from_json(payload)
        admission.check_sender(sig.sender, client.id)
        survivors = wire.survivors_from_json(relay(session, round_row.id, MASKED, BROADCAST))
        admission.check_survivor_signature(seeded_context(session, round_row),
                                           client.identity_key, survivors, sig)
    elif stage == UNMASK:
        shares = wire.unmask_from_json(payload, limit=k)
        admission.check_sender(shares.sender, client.id)
        try:
            survivors = wire.survivors_from_json(
                relay(session, round_row.id, MASKED, BROADCAST))
        except NotFoundError:
            raise RoundStateError(f"the round is in stage {round_row.stage!r}, not "
                                  f"{UNMASK!r}") from None
        check_revealed_shares(survivors, shares, *envelopes_of(session, round_row, client.id))


def receive(session: Session, blobs: BlobStore, round_row: RoundRow, client: ClientRow,
            stage: str, payload: Any) -> bool:
    """Pre-check, store durably and record one message; close the stage when all are in.

    ``payload`` is parsed JSON, or the masked input (bytes or a :class:`PendingBlob`).
    Returns True if newly stored; the same message again is acknowledged with False
    whatever stage the round is in (a retry after a lost response).
    """
    if stage not in STAGES:
        raise NotFoundError("no such stage")
    offenders = {int(c): why for c, why in (round_row.offenders or {}).items()}
    admission.check_admitted(client.id, (client.id,), offenders)  # refuses an offender only
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
    blob, writer = _masked_input_digest(blobs, round_row, client, payload)
    return _encode({}), blob, writer


def _record(session: Session, round_row: RoundRow, client: ClientRow, stage: str, body: bytes,
            blob: str | None, writer: BlobWriter | None) -> bool:
    """Record the message exactly once, publishing its blob first; True if new."""
    if rounds.already_recorded(session, round_row.id, stage, client.id, body, blob=blob):
        return False
    try:
        rounds.lock_stage(session, round_row, stage)
        if not _admitted(session, round_row, stage, client.id):
            admission.check_admitted(client.id, allowed=())  # refuses, in the machine's words
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
    blob only if the message is accepted."""

    writer: BlobWriter


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
    """May ``client_id`` send in ``stage``? (Check-shares and masked-input senders got the
    envelopes relayed to them: one indexed lookup, so uploads stay O(1) in n.)"""
    if stage in _LISTED:
        return client_id in _expected(session, round_row, stage)
    got_envelopes = session.get(RelayRow, (round_row.id, SHARE, client_id)) is not None
    return got_envelopes and (stage == CHECK or client_id not in excluded(session, round_row))


def _expected_count(session: Session, round_row: RoundRow, stage: str) -> int:
    if stage in _LISTED:
        return len(_expected(session, round_row, stage))
    got_envelopes = int(session.scalar(select(func.count()).select_from(RelayRow).where(
        RelayRow.round_id == round_row.id, RelayRow.stage == SHARE)) or 0)
    return got_envelopes - (len(excluded(session, round_row)) if stage == MASKED else 0)


def _expected(session: Session, round_row: RoundRow, stage: str) -> set[int]:
    """Who may (and is waited for to) send in a stage whose senders are listed in one place."""
    if stage == COMMIT:
        return set(round_row.participants)
    if stage == ADVERTISE:
        return {m["sender"] for m in relay(session, round_row.id, COMMIT, BROADCAST)}
    if stage == SHARE:  # the advertisers are the graph's vertices (kept per round)
        return set(seeded_context(session, round_row).graph_members)
    if stage == CONSISTENCY:
        return set(relay(session, round_row.id, MASKED, BROADCAST)["survivors"])
    assert stage == UNMASK
    return {s["sender"] for s in relay(session, round_row.id, CONSISTENCY, BROADCAST)}


def _replay(session: Session, blobs: BlobStore, round_row: RoundRow, upto: str) -> SecAggServer:
    """Rebuild the state machine from the stored messages of every stage up to ``upto``."""
    ctx = context_of(round_row)
    server = SecAggServer(ctx, roster=_roster(session, round_row.participants))
    closers = [server.close_commit_seed, server.close_advertise_keys, server.close_share_keys,
               server.close_check_shares, server.close_masked_input, server.close_consistency]
    for index, stage in enumerate(STAGES[: STAGES.index(upto) + 1]):
        for message in rounds.stage_messages(session, round_row.id, stage):
            try:
                _feed(server, ctx, stage, message.sender, message.body,
                      None if message.blob is None else blobs.get(message.blob))
            except BlindsumError:
                continue  # refused on replay: as if this client had dropped
        if stage != upto:
            closers[index]()
    return server


def _feed(server: SecAggServer, ctx: RoundContext, stage: str, sender: int, body: bytes,
          data: bytes | None) -> None:
    k = ctx.params.neighbours
    if stage == MASKED:
        assert data is not None
        server.receive_masked_input(wire.masked_input_from_bytes(
            sender, data, dimension=ctx.dimension, dtype=ctx.codec.dtype))
        return
    payload = json.loads(body)
    if stage == COMMIT:
        server.receive_commitment(wire.commitment_from_json(payload))
    elif stage == ADVERTISE:
        server.receive_advert(wire.advert_from_json(payload))
    elif stage == SHARE:
        server.receive_shares(sender, wire.envelopes_from_json(
            payload, limit=k, threshold=ctx.params.threshold))
    elif stage == CHECK:
        server.receive_accusations(wire.accusations_from_json(payload, limit=k))
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
        rounds.abort_round(round_row, f"{type(exc).__name__}: {exc}")
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
        rounds.advance(round_row, STAGES[STAGES.index(stage) + 1], timeout)
    session.commit()


def _record_offenders(round_row: RoundRow, server: SecAggServer) -> None:
    """Keep who the round excluded, and why, on the round (its later messages are refused)."""
    if server.offenders:
        round_row.offenders = {str(u): why for u, why in sorted(server.offenders.items())}


def _timeout(session: Session, round_row: RoundRow) -> float:
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    return federation.stage_timeout_seconds


_RELAYS: dict[str, Callable[[SecAggServer], dict[int, Any]]] = {
    COMMIT: lambda s: {BROADCAST: [wire.commitment_to_json(c) for c in s.close_commit_seed()]},
    ADVERTISE: lambda s: {BROADCAST: [wire.advert_to_json(a) for a in s.close_advertise_keys()]},
    SHARE: lambda s: {u: wire.envelopes_to_json(e) for u, e in s.close_share_keys().items()},
    CHECK: lambda s: {BROADCAST: wire.exclusions_to_json(s.close_check_shares())},
    MASKED: lambda s: {BROADCAST: wire.survivors_to_json(s.close_masked_input())},
    CONSISTENCY: lambda s: {BROADCAST: [wire.signature_to_json(x) for x in s.close_consistency()]},
}
"""How each stage but the last closes, and what it relays (0: to everyone)."""


def _close(server: SecAggServer, stage: str, round_row: RoundRow) -> dict[int, Any]:
    if stage != UNMASK:
        return _RELAYS[stage](server)
    result = server.finalize()
    if "ddg" in round_row.protocol:  # distributed DP: centre, rotate back, rescale
        decoded = decode_sum(result.total, DDGParams.from_json(round_row.protocol["ddg"]),
                             round_row.round_seed)
    else:
        decoded = server.context.codec.dequantize_sum(result.total, len(result.contributors))
    return {BROADCAST: (decoded, list(result.contributors))}


def _publish(session: Session, blobs: BlobStore, round_row: RoundRow,
             relays: dict[int, Any]) -> None:
    decoded, contributors = relays[BROADCAST]
    results.publish(session, blobs, round_row, decoded, contributors)
