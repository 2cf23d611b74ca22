"""Threshold-custody rounds: the custodians make the round's key, then decrypt its sum.

The aggregator holds no secret-key material at any point: it relays the ceremony's
messages (checking each on receipt, so a forged one is refused early), publishes the
collective public key once t custodians confirmed it, and fuses the t partial
decryptions of the round's sum. Stages (:data:`~blindsum.crypto.ckks.stages.THRESHOLD_STAGES`):

* ``key-commit``: every enrolled custodian may commit; the stage closes when all m have,
  or at its deadline with at least t (fewer aborts the round);
* ``key-reveal``: every committed custodian reveals; a missing reveal aborts (the key
  would lack a committed share: open a new round);
* ``key-confirm``: custodians confirm the assembled key; at least t move the round on;
* ``upload``: the clients' encrypted updates (:mod:`.ckks_rounds`);
* ``agree``: custodians vote for the round's contributor set (each votes once per round,
  :mod:`~blindsum.crypto.ckks.threshold.custodian`); all m, or q at the deadline, move on;
* ``decrypt``: an active set of t custodians is named; when all t partials are in, the
  stage's deadline is set to now and the next sweep fuses them. A set that misses its
  deadline is replaced by one that prefers custodians that answered.

Every transition runs under the stage lock of :func:`.rounds.lock_stage`, and the
custody state lives in the round's row, so a crash loses nothing acknowledged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blindsum.aggregator import custody_fusion, results, rounds
from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.models import CustodianRow, FederationRow, RoundRow
from blindsum.crypto.ckks.stages import Stage
from blindsum.crypto.ckks.threshold import ceremony
from blindsum.crypto.ckks.threshold.custodian import ContributorSet, SetVote, verify_vote
from blindsum.crypto.ckks.threshold.framing import decode_reveal
from blindsum.crypto.ckks.threshold.keys import CollectiveKey, data_basis, key_basis
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues, encode_residues, residues_size
from blindsum.errors import BlindsumError, NotFoundError, ProtocolError, RoundStateError
from blindsum.wire import KeyCommitmentMessage, KeyConfirmationMessage, SetVoteMessage

__all__ = ["close_stage", "close_when_complete", "collective_key_blob", "commitments",
           "committed_indices", "contributor_set", "key_context", "params_of", "partial_size",
           "reveal_blob", "round_key", "submit_commitment", "submit_confirmation",
           "submit_partial", "submit_reveal", "submit_vote", "votes"]

COMMIT, REVEAL, CONFIRM = Stage.KEY_COMMIT.value, Stage.KEY_REVEAL.value, Stage.KEY_CONFIRM.value
UPLOAD, AGREE, DECRYPT = Stage.UPLOAD.value, Stage.AGREE.value, Stage.DECRYPT.value


def params_of(federation: FederationRow) -> ThresholdParams:
    return ThresholdParams.derive(max_clients=federation.max_clients,
                                  max_abs=federation.clip_norm,
                                  custodians=federation.custodians,
                                  threshold=federation.custodian_threshold)


def _custodians(session: Session, federation: FederationRow) -> list[CustodianRow]:
    return list(session.scalars(select(CustodianRow).where(
        CustodianRow.federation_id == federation.id).order_by(CustodianRow.index)))


def key_context(session: Session, federation: FederationRow,
                round_row: RoundRow) -> ceremony.KeyContext:
    """The round's key context: the federation, the round, the parameters, all m custodians."""
    rows = _custodians(session, federation)
    if len(rows) != federation.custodians:
        raise RoundStateError(f"{len(rows)} of the federation's {federation.custodians} "
                              "custodians have enrolled; issue custodian invites first")
    entries = tuple(ceremony.CustodianEntry(r.index, r.identity_key, r.exchange_key)
                    for r in rows)
    return ceremony.KeyContext(federation.id, round_row.id, params_of(federation), entries,
                               round_row.number)


def _state(round_row: RoundRow) -> dict[str, Any]:
    return dict(round_row.custody or {})


def _commitment_of(body: bytes) -> ceremony.KeyCommitment:
    m = KeyCommitmentMessage.model_validate_json(body)
    return ceremony.KeyCommitment(m.custodian_index, m.commitment, m.exchange_key, m.signature)


def committed_indices(round_row: RoundRow) -> list[int]:
    """The custodians that committed to the round's key (known once key-commit closed):
    they alone hold shares of it."""
    committed = _state(round_row).get("committed")
    if committed is None:
        raise RoundStateError("the round's commitment stage has not closed yet")
    return list(committed)


def commitments(session: Session, round_row: RoundRow) -> list[ceremony.KeyCommitment]:
    return [_commitment_of(m.body) for m in rounds.stage_messages(session, round_row.id, COMMIT)]


def _confirmations(session: Session, round_row: RoundRow) -> list[ceremony.KeyConfirmation]:
    out = []
    for m in rounds.stage_messages(session, round_row.id, CONFIRM):
        c = KeyConfirmationMessage.model_validate_json(m.body)
        out.append(ceremony.KeyConfirmation(c.custodian_index, c.key_digest, c.confirmed_at,
                                            c.signature))
    return out


def _record(session: Session, round_row: RoundRow, stage: str, custodian: CustodianRow,
            body: bytes, blob: str | None = None) -> bool:
    """Store one custodian message of ``stage`` exactly once; True if new. The same message
    again is acknowledged whatever stage the round is in now (a retry after a lost
    response, possibly of the message that closed the stage); commits."""
    if rounds.already_recorded(session, round_row.id, stage, custodian.index, body, blob=blob):
        session.commit()
        return False
    rounds.lock_stage(session, round_row, stage)
    _, new = rounds.record_message(session, round_row, stage, custodian.index, body, blob=blob,
                                   senders=range(1, 33))
    session.commit()
    return new


def submit_commitment(session: Session, blobs: BlobStore, federation: FederationRow,
                      round_row: RoundRow, custodian: CustodianRow,
                      message: KeyCommitmentMessage) -> bool:
    if message.custodian_index != custodian.index:
        raise ProtocolError("a custodian commits under its own index only")
    context = key_context(session, federation, round_row)
    ceremony.verify_commitment(context, ceremony.KeyCommitment(
        message.custodian_index, message.commitment, message.exchange_key, message.signature))
    new = _record(session, round_row, COMMIT, custodian, message.model_dump_json().encode())
    if rounds.stage_message_count(session, round_row.id, COMMIT) == federation.custodians:
        close_when_complete(session, blobs, round_row, COMMIT)
    return new


def reveal_blob(session: Session, round_row: RoundRow, index: int) -> str:
    for m in rounds.stage_messages(session, round_row.id, REVEAL):
        if m.sender == index and m.blob is not None:
            return m.blob
    raise NotFoundError(f"custodian {index} has not revealed in this round")


def submit_reveal(session: Session, blobs: BlobStore, federation: FederationRow,
                  round_row: RoundRow, custodian: CustodianRow, data: bytes) -> bool:
    context = key_context(session, federation, round_row)
    reveal = decode_reveal(context, data, committed_indices(round_row))
    if reveal.index != custodian.index:
        raise ProtocolError("a custodian reveals under its own index only")
    ceremony.verify_reveal(context, commitments(session, round_row), reveal)
    digest, _ = blobs.put([data], max_bytes=len(data))
    new = _record(session, round_row, REVEAL, custodian, b"", blob=digest)
    committed = {c.index for c in commitments(session, round_row)}
    if rounds.stage_message_count(session, round_row.id, REVEAL) == len(committed):
        close_when_complete(session, blobs, round_row, REVEAL)
    return new


def _assembled(round_row: RoundRow) -> dict[str, Any]:
    state = _state(round_row)
    if "key_b_blob" not in state:
        raise RoundStateError("the round's key is not assembled yet (custodians are in "
                              f"stage {round_row.stage!r})")
    return state


def round_key(session: Session, round_row: RoundRow) -> tuple[bytes, list[
        ceremony.KeyConfirmation]]:
    """The round's key seed and the custodians' confirmations so far."""
    return bytes.fromhex(_assembled(round_row)["seed"]), _confirmations(session, round_row)


def collective_key_blob(round_row: RoundRow) -> str:
    """The blob of the collective key's ``b`` (key-level residues)."""
    return str(_assembled(round_row)["key_b_blob"])


def submit_confirmation(session: Session, blobs: BlobStore, federation: FederationRow,
                        round_row: RoundRow, custodian: CustodianRow,
                        message: KeyConfirmationMessage) -> bool:
    if message.custodian_index != custodian.index:
        raise ProtocolError("a custodian confirms under its own index only")
    context = key_context(session, federation, round_row)
    confirmation = ceremony.KeyConfirmation(message.custodian_index, message.key_digest,
                                            message.confirmed_at, message.signature)
    ceremony.verify_confirmation(context, confirmation)
    if confirmation.key_digest != bytes.fromhex(_state(round_row).get("key_digest", "")):
        raise ProtocolError("this confirmation is of another key than the round's")
    new = _record(session, round_row, CONFIRM, custodian, message.model_dump_json().encode())
    if rounds.stage_message_count(session, round_row.id, CONFIRM) == len(
            _state(round_row).get("committed", [])):
        close_when_complete(session, blobs, round_row, CONFIRM)
    return new


def contributor_set(session: Session, round_row: RoundRow) -> ContributorSet:
    """The uploads the round's sum is made of: each client and its upload's SHA-256 (the
    blob store names blobs by it)."""
    return ContributorSet(tuple((m.sender, bytes.fromhex(m.blob or ""))
                                for m in rounds.stage_messages(session, round_row.id, UPLOAD)))


def votes(session: Session, round_row: RoundRow) -> list[SetVote]:
    out = []
    for m in rounds.stage_messages(session, round_row.id, AGREE):
        v = SetVoteMessage.model_validate_json(m.body)
        out.append(SetVote(v.custodian_index, v.set_digest, v.signature))
    return out


def submit_vote(session: Session, blobs: BlobStore, federation: FederationRow,
                round_row: RoundRow, custodian: CustodianRow, message: SetVoteMessage) -> bool:
    if message.custodian_index != custodian.index:
        raise ProtocolError("a custodian votes under its own index only")
    context = key_context(session, federation, round_row)
    set_vote = SetVote(message.custodian_index, message.set_digest, message.signature)
    verify_vote(context, set_vote)
    if set_vote.set_digest != contributor_set(session, round_row).digest(context):
        raise ProtocolError("this vote is for another set of contributions than the round's")
    new = _record(session, round_row, AGREE, custodian, message.model_dump_json().encode())
    if rounds.stage_message_count(session, round_row.id, AGREE) == federation.custodians:
        close_when_complete(session, blobs, round_row, AGREE)
    return new


def partial_size(federation: FederationRow) -> int:
    params = params_of(federation)
    return residues_size(data_basis(params.ckks), params.ckks.chunks(federation.dimension))


def submit_partial(session: Session, blobs: BlobStore, federation: FederationRow,
                   round_row: RoundRow, custodian: CustodianRow, data: bytes,
                   attempt: int) -> bool:
    """Store an active custodian's partial decryption for ``attempt``; when the set is
    complete, due the stage now so the next sweep fuses it (off this request)."""
    params = params_of(federation)
    decode_residues(data_basis(params.ckks), data, params.ckks.chunks(federation.dimension),
                    what="a partial decryption")
    digest = hashlib.sha256(data).hexdigest()
    seen = _state(round_row)
    if seen.get("attempt") == attempt and \
            seen.get("partials", {}).get(str(custodian.index)) == digest:
        return False  # a retry after a lost response, perhaps after the sum was published
    rounds.lock_stage(session, round_row, DECRYPT)
    session.refresh(round_row)  # another custodian's partial may have landed since we read it
    state = _state(round_row)
    if attempt != state.get("attempt") or custodian.index not in state.get("active", []):
        session.rollback()
        raise RoundStateError(f"custodian {custodian.index} is not in attempt {attempt}'s "
                              "active set; read the round's decryption request again")
    partials = dict(state.get("partials", {}))
    digest, _ = blobs.put([data], max_bytes=len(data))  # the blob store names it by SHA-256
    new = partials.get(str(custodian.index)) != digest
    partials[str(custodian.index)] = digest
    state["partials"] = partials
    round_row.custody = state
    if len(partials) == len(state["active"]):
        round_row.stage_deadline = datetime.now(UTC)  # the sweeper fuses, not this request
    session.commit()
    return new


def close_when_complete(session: Session, blobs: BlobStore, round_row: RoundRow,
                        stage: str) -> None:
    """Close ``stage``, which the last message completed; if the round has moved past it
    (concurrent last messages, or a retry of one), nothing happens."""
    try:
        close_stage(session, blobs, round_row, stage)
    except RoundStateError:
        session.rollback()


def close_stage(session: Session, blobs: BlobStore, round_row: RoundRow,
                stage: str | None = None) -> None:
    """End the round's custody stage ``stage`` (by default its current one): move on, fuse
    and publish, or abort."""
    stage = stage or round_row.stage
    rounds.lock_stage(session, round_row, stage)
    session.refresh(round_row)  # the custody state as of the lock, not as first read
    federation = session.get(FederationRow, round_row.federation_id)
    assert federation is not None
    try:
        _CLOSERS[stage](session, blobs, federation, round_row)
    except BlindsumError as exc:
        rounds.abort_round(round_row, f"{type(exc).__name__}: {exc}")
    session.commit()


def _close_commit(session: Session, blobs: BlobStore, federation: FederationRow,
                  round_row: RoundRow) -> None:
    committed = commitments(session, round_row)
    if len(committed) < federation.custodian_threshold:
        raise RoundStateError(f"only {len(committed)} custodians committed to a key; at least "
                              f"{federation.custodian_threshold} must take part")
    round_row.custody = {**_state(round_row), "committed": sorted(c.index for c in committed)}
    rounds.advance(round_row, REVEAL, federation.stage_timeout_seconds)


def _close_reveal(session: Session, blobs: BlobStore, federation: FederationRow,
                  round_row: RoundRow) -> None:
    context = key_context(session, federation, round_row)
    reveals = [decode_reveal(context, blobs.get(m.blob or ""), committed_indices(round_row))
               for m in rounds.stage_messages(session, round_row.id, REVEAL)]
    key = ceremony.assemble_collective_key(context, commitments(session, round_row), reveals)
    b = encode_residues(key_basis(context.params.ckks), key.b)
    round_row.custody = {**_state(round_row), "seed": key.seed.hex(),
                         "key_b_blob": blobs.put([b], max_bytes=len(b))[0],
                         "key_digest": ceremony.key_digest(context, key.b).hex()}
    rounds.advance(round_row, CONFIRM, federation.stage_timeout_seconds)


def _collective_key(session: Session, blobs: BlobStore, federation: FederationRow,
                    round_row: RoundRow) -> tuple[ceremony.KeyContext, CollectiveKey]:
    context = key_context(session, federation, round_row)
    state = _state(round_row)
    b = decode_residues(key_basis(context.params.ckks), blobs.get(state["key_b_blob"]),
                        what="the round's collective key")
    return context, CollectiveKey(context.params.ckks, bytes.fromhex(state["seed"]), b)


def _close_confirm(session: Session, blobs: BlobStore, federation: FederationRow,
                   round_row: RoundRow) -> None:
    context, key = _collective_key(session, blobs, federation, round_row)
    confirmations = _confirmations(session, round_row)
    ceremony.check_collective_key(context, key, confirmations)
    round_row.custody = {**_state(round_row),
                         "confirmed": sorted(c.index for c in confirmations)}
    rounds.advance(round_row, UPLOAD, federation.stage_timeout_seconds)


def _close_upload(session: Session, blobs: BlobStore, federation: FederationRow,
                  round_row: RoundRow) -> None:
    uploads = rounds.stage_messages(session, round_row.id, UPLOAD)
    if len(uploads) < federation.min_clients:
        raise RoundStateError(f"only {len(uploads)} clients uploaded; the federation needs "
                              f"{federation.min_clients} before a sum is decrypted")
    round_row.contributors = sorted(m.sender for m in uploads)
    rounds.advance(round_row, AGREE, federation.stage_timeout_seconds)


def _close_agree(session: Session, blobs: BlobStore, federation: FederationRow,
                 round_row: RoundRow) -> None:
    voted = sorted(v.index for v in votes(session, round_row))
    quorum = params_of(federation).set_quorum
    if len(voted) < quorum:
        raise RoundStateError(f"{len(voted)} custodians agreed on the round's contributors; "
                              f"{quorum} must before its sum is decrypted (are custodians "
                              "offline?)")
    round_row.custody = {**_state(round_row), "voted": voted}
    _next_active_set(federation, round_row)
    rounds.advance(round_row, DECRYPT, federation.stage_timeout_seconds)


def _next_active_set(federation: FederationRow, round_row: RoundRow) -> None:
    round_row.custody = custody_fusion.next_active_set(
        _state(round_row), committed_indices(round_row), federation.custodian_threshold)


def _close_decrypt(session: Session, blobs: BlobStore, federation: FederationRow,
                   round_row: RoundRow) -> None:
    state = _state(round_row)
    partials = state.get("partials", {})
    if len(partials) < len(state.get("active", [])):
        _next_active_set(federation, round_row)
        rounds.advance(round_row, DECRYPT, federation.stage_timeout_seconds)
        return
    uploads = rounds.stage_messages(session, round_row.id, UPLOAD)
    total, contributors = custody_fusion.fused_sum(
        params_of(federation), federation, round_row.id.encode(),
        [(m.sender, blobs.get(m.blob or ""), m.body) for m in uploads],
        {int(i): blobs.get(digest) for i, digest in partials.items()})
    results.publish(session, blobs, round_row, total, contributors)


_CLOSERS = {COMMIT: _close_commit, REVEAL: _close_reveal, CONFIRM: _close_confirm,
            UPLOAD: _close_upload, AGREE: _close_agree, DECRYPT: _close_decrypt}
