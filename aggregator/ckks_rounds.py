"""CKKS rounds: custody keys per federation, one upload stage, decryption of the closed sum.

The request path stores each upload durably (blob fsynced, then the message
row committed) before acknowledging it, and checks it fully first; the sum is
formed when the stage closes by streaming the uploads one at a time through the
accumulator, so memory stays O(d) and a crash at any point loses nothing that
was acknowledged and counts nothing twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from blindsum.aggregator import custody_rounds, ledger, results, rounds
from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.models import ClientRow, CustodyKeyRow, FederationRow, RoundRow
from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator, verify_upload_signature
from blindsum.crypto.ckks.custody import LocalKeyCustody
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.stages import Stage
from blindsum.crypto.ckks.wire import decode_upload, upload_size
from blindsum.errors import BlindsumError, MalformedMessageError, NotFoundError, RoundStateError
from blindsum.wire import CkksProtocol

__all__ = ["close_upload_stage", "create_custody", "params_of", "protocol_for", "public_context",
           "submit_upload"]

STAGE = Stage.UPLOAD.value


def params_of(federation: FederationRow) -> CkksParams:
    """The federation's CKKS parameters (derived, never stored apart from the federation):
    under threshold custody, the ones re-derived for flooding."""
    if federation.custody == "threshold":
        return custody_rounds.params_of(federation).ckks
    return CkksParams.for_clients(federation.max_clients, max_abs=federation.clip_norm)


def protocol_for(federation: FederationRow, n_participants: int = 0) -> CkksProtocol:
    """The round's public CKKS parameters. They depend on the federation's max_clients, not
    on ``n_participants`` (taken so both modes open rounds through one signature)."""
    del n_participants
    p = params_of(federation)
    custody: dict[str, Any] = {}
    if federation.custody == "threshold":
        t = custody_rounds.params_of(federation)
        custody = {"custody": "threshold", "custodians": t.custodians, "threshold": t.threshold,
                   "statistical_bits": t.flooding.statistical_bits,
                   "max_ciphertexts": t.flooding.max_ciphertexts}
    return CkksProtocol(mode="ckks", poly_modulus_degree=p.poly_modulus_degree,
                        coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes), scale_bits=p.scale_bits,
                        max_clients=p.max_clients, max_abs=p.max_abs,
                        upload_bytes=upload_size(p, federation.dimension), **custody)


def create_custody(session: Session, blobs: BlobStore, federation: FederationRow,
                   kek: bytes) -> None:
    """Local custody only: generate the federation's key pair; keep the secret sealed,
    publish the public context. (Threshold custody makes a key per round, by custodians.)"""
    if federation.custody == "threshold":
        return
    custody = LocalKeyCustody.generate(params_of(federation))
    public = custody.public_context()
    digest, _ = blobs.put([public], max_bytes=len(public))
    session.add(CustodyKeyRow(federation_id=federation.id, sealed=custody.seal(kek),
                              public_context_blob=digest))
    session.commit()


def _custody_row(session: Session, federation_id: str) -> CustodyKeyRow:
    row = session.get(CustodyKeyRow, federation_id)
    if row is None:
        raise NotFoundError("this federation has no CKKS key (it is not a ckks federation)")
    return row


def public_context(session: Session, blobs: BlobStore, federation_id: str) -> bytes:
    return blobs.get(_custody_row(session, federation_id).public_context_blob)


def submit_upload(session: Session, blobs: BlobStore, federation: FederationRow,
                  round_row: RoundRow, client: ClientRow, data: bytes, signature: bytes,
                  *, kek: bytes) -> bool:
    """Check, store durably and record one client's upload; True if newly stored.

    The upload is fully checked (size, header, parameters, reduced coefficients,
    the client's signature) before anything is written; the blob is fsynced
    before the message row commits, and the row commits before the caller
    acknowledges. The last participant's upload closes the stage.
    """
    ledger.check_within_budget(session, federation, client)
    params = params_of(federation)
    decode_upload(data, params, federation.dimension)
    verify_upload_signature(client.identity_key, signature, round_row.id.encode(), client.id,
                            data)
    writer = blobs.writer(max_bytes=upload_size(params, federation.dimension))
    try:
        writer.write(data)
        digest, _ = writer.finish()
        if rounds.already_recorded(session, round_row.id, STAGE, client.id, signature,
                                   blob=digest):
            return False  # a retry after a lost response: acknowledged, nothing changes
        rounds.lock_stage(session, round_row, STAGE)
        _, new = rounds.record_message(session, round_row, STAGE, client.id, signature,
                                       blob=digest)
        if new:
            writer.commit()  # durable under its digest before the row naming it commits
            session.commit()
        else:  # the same upload again: acknowledged, nothing changes
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        writer.discard()  # a refused upload leaves no bytes behind
    if rounds.stage_message_count(session, round_row.id, STAGE) == len(round_row.participants):
        if federation.custody == "threshold":
            custody_rounds.close_when_complete(session, blobs, round_row, STAGE)
        else:
            try:
                close_upload_stage(session, blobs, federation, round_row, kek)
            except RoundStateError:  # two last uploads at once: the other request closed it
                session.rollback()
    return new


def close_upload_stage(session: Session, blobs: BlobStore, federation: FederationRow,
                       round_row: RoundRow, kek: bytes) -> None:
    """Sum the uploads and decrypt the sum, or abort with the reason (nothing partial)."""
    rounds.lock_stage(session, round_row, STAGE)
    messages = rounds.stage_messages(session, round_row.id, STAGE)
    try:
        total = _decrypt_sum(session, blobs, federation, round_row, messages, kek)
    except BlindsumError as exc:
        rounds.abort_round(round_row, f"{type(exc).__name__}: {exc}")
        session.commit()
        return
    results.publish(session, blobs, round_row, total, [m.sender for m in messages])
    session.commit()


def _decrypt_sum(session: Session, blobs: BlobStore, federation: FederationRow,
                 round_row: RoundRow, messages: list[Any], kek: bytes) -> np.ndarray:
    params = params_of(federation)
    custody = LocalKeyCustody.unseal(params, _custody_row(session, federation.id).sealed, kek)
    acc = EncryptedSumAccumulator(params, federation.dimension, round_id=round_row.id.encode())
    roster = {}
    for message in messages:
        client = session.get(ClientRow, message.sender)
        if client is None or message.blob is None:
            raise MalformedMessageError("an accepted upload lost its client or blob")
        roster[client.id] = client.identity_key
        acc.add(blobs.get(message.blob), client_id=client.id, signature=message.body)
    acc.close()
    return custody.decrypt_sum(acc, min_clients=federation.min_clients, roster=roster)
