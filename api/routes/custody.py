"""Threshold custody over HTTP: custodian enrollment, the key ceremony, the round's
collective key for clients, and the decryption of the closed sum.

The routes only authenticate, size-check and hand over to
:mod:`blindsum.aggregator.custody_rounds`; the aggregator holds no key to misuse.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from blindsum.aggregator import custodians, custody_rounds, rounds
from blindsum.aggregator import federations as feds
from blindsum.aggregator.models import ClientRow, CustodianRow, FederationRow, RoundRow
from blindsum.api.bodies import OCTETS, octet_body_doc, read_exact
from blindsum.api.deps import (
    AdminOrMember,
    BlobsDep,
    CurrentCustodian,
    SessionDep,
    finished,
)
from blindsum.api.problems import problem_responses
from blindsum.crypto.ckks.stages import Stage
from blindsum.crypto.ckks.threshold.framing import reveal_size
from blindsum.errors import NotFoundError, RoundStateError
from blindsum.wire import (
    ContributionPublic,
    CustodianEnrollRequest,
    CustodianEnrollResponse,
    CustodianPublic,
    DecryptionRequestPublic,
    KeyCommitmentMessage,
    KeyConfirmationMessage,
    RoundKeyPublic,
    SetVoteMessage,
    UploadAccepted,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/federations/{federation_id}", tags=["custody"],
                   responses=problem_responses(400, 401, 404, 409, 413, 422))
ContentLength = Annotated[int, Header(ge=0)]


def _in_federation(federation_id: str, caller: ClientRow | CustodianRow | None) -> None:
    if caller is not None and caller.federation_id != federation_id:
        raise NotFoundError("no such federation")


def _threshold_round(session: SessionDep, federation_id: str, round_id: str
                     ) -> tuple[FederationRow, RoundRow]:
    federation = feds.get_federation(session, federation_id)
    if federation.custody != "threshold":
        raise NotFoundError("this federation has no custodians (its custody is local)")
    return federation, rounds.get_round(session, federation_id, round_id)


@router.post("/custodians/enroll", status_code=status.HTTP_201_CREATED,
             summary="Enroll a key custodian with a custodian invite")
def enroll(federation_id: str, body: CustodianEnrollRequest,
           session: SessionDep) -> CustodianEnrollResponse:
    row, token = custodians.enroll_custodian(
        session, federation_id, invite_code=body.invite_code, identity_key=body.identity_key,
        exchange_key=body.exchange_key, proof=body.proof, label=body.label)
    return finished(session, CustodianEnrollResponse(custodian_index=row.index,
                                                     federation_id=federation_id, token=token))


@router.get("/custodians", summary="The federation's key custodians and their public keys")
def roster(federation_id: str, session: SessionDep,
           caller: AdminOrMember) -> list[CustodianPublic]:
    _in_federation(federation_id, caller)
    feds.get_federation(session, federation_id)
    return finished(session, [CustodianPublic.model_validate(r)
                              for r in custodians.roster(session, federation_id)])


@router.post("/rounds/{round_id}/custody/commitment", status_code=status.HTTP_202_ACCEPTED,
             summary="A custodian's signed commitment to its share of the round's key")
def commit(federation_id: str, round_id: str, body: KeyCommitmentMessage, request: Request,
           session: SessionDep, blobs: BlobsDep, me: CurrentCustodian) -> UploadAccepted:
    _in_federation(federation_id, me)
    federation, row = _threshold_round(session, federation_id, round_id)
    stored = custody_rounds.submit_commitment(session, blobs, federation, row, me, body)
    return finished(session, UploadAccepted(round_id=row.id, stage=Stage.KEY_COMMIT.value,
                                            stored=stored))


@router.get("/rounds/{round_id}/custody/commitments",
            summary="Every custodian's commitment, once the commitment stage closed")
def list_commitments(federation_id: str, round_id: str, session: SessionDep,
                     caller: AdminOrMember) -> list[KeyCommitmentMessage]:
    _in_federation(federation_id, caller)
    _, row = _threshold_round(session, federation_id, round_id)
    if row.stage == Stage.KEY_COMMIT.value:
        raise RoundStateError("the commitments are relayed once the commitment stage closes")
    return finished(session, [KeyCommitmentMessage(custodian_index=c.index,
                                                   commitment=c.commitment,
                                                   exchange_key=c.exchange_key,
                                                   signature=c.signature)
                              for c in custody_rounds.commitments(session, row)])


@router.put("/rounds/{round_id}/custody/reveal", status_code=status.HTTP_202_ACCEPTED,
            summary="A custodian's key share and its re-shares (application/octet-stream)",
            openapi_extra=octet_body_doc())
async def reveal(federation_id: str, round_id: str, request: Request, session: SessionDep,
                 blobs: BlobsDep, me: CurrentCustodian,
                 content_length: ContentLength) -> UploadAccepted:
    _in_federation(federation_id, me)

    def size() -> tuple[FederationRow, RoundRow, int]:
        federation, row = _threshold_round(session, federation_id, round_id)
        expected = reveal_size(custody_rounds.key_context(session, federation, row),
                               len(custody_rounds.committed_indices(row)))
        return finished(session, (federation, row, expected))

    federation, row, expected = await run_in_threadpool(size)
    body = await read_exact(request, content_length, expected, "a key reveal")
    stored = await run_in_threadpool(custody_rounds.submit_reveal, session, blobs, federation,
                                     row, me, body)
    return UploadAccepted(round_id=row.id, stage=Stage.KEY_REVEAL.value, stored=stored)


@router.get("/rounds/{round_id}/custody/reveals/{custodian_index}",
            summary="One custodian's reveal, as it sent it (octets)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def get_reveal(federation_id: str, round_id: str, custodian_index: int, session: SessionDep,
               blobs: BlobsDep, caller: AdminOrMember) -> Response:
    _in_federation(federation_id, caller)
    _, row = _threshold_round(session, federation_id, round_id)
    digest = custody_rounds.reveal_blob(session, row, custodian_index)
    return finished(session, Response(blobs.get(digest), media_type=OCTETS))


@router.post("/rounds/{round_id}/custody/confirmation", status_code=status.HTTP_202_ACCEPTED,
             summary="A custodian's signature on the assembled key, after checking it")
def confirm(federation_id: str, round_id: str, body: KeyConfirmationMessage,
            session: SessionDep, blobs: BlobsDep, me: CurrentCustodian) -> UploadAccepted:
    _in_federation(federation_id, me)
    federation, row = _threshold_round(session, federation_id, round_id)
    stored = custody_rounds.submit_confirmation(session, blobs, federation, row, me, body)
    return finished(session, UploadAccepted(round_id=row.id, stage=Stage.KEY_CONFIRM.value,
                                            stored=stored))


@router.get("/rounds/{round_id}/ckks/key",
            summary="The round's collective key: its seed and the custodians' confirmations")
def round_key(federation_id: str, round_id: str, session: SessionDep,
              caller: AdminOrMember) -> RoundKeyPublic:
    _in_federation(federation_id, caller)
    _, row = _threshold_round(session, federation_id, round_id)
    seed, confirmations = custody_rounds.round_key(session, row)
    return finished(session, RoundKeyPublic(key_id=row.id, seed=seed, confirmations=[
        KeyConfirmationMessage(custodian_index=c.index, key_digest=c.key_digest,
                               confirmed_at=c.confirmed_at, signature=c.signature)
        for c in confirmations]))


@router.get("/rounds/{round_id}/ckks/collective-key",
            summary="The round's collective public key b (key-level residues, octets); "
                    "with the seed's common polynomial a it is the key clients encrypt under",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def collective_key(federation_id: str, round_id: str, session: SessionDep,
                   blobs: BlobsDep, caller: AdminOrMember) -> Response:
    _in_federation(federation_id, caller)
    _, row = _threshold_round(session, federation_id, round_id)
    return finished(session, Response(blobs.get(custody_rounds.collective_key_blob(row)),
                                      media_type=OCTETS))


def _decrypting(session: SessionDep, federation_id: str, round_id: str) -> RoundRow:
    _, row = _threshold_round(session, federation_id, round_id)
    if row.stage not in (Stage.AGREE.value, Stage.DECRYPT.value):
        raise RoundStateError(f"the round is {row.stage!r}; there is nothing to decrypt")
    return row


@router.post("/rounds/{round_id}/custody/vote", status_code=status.HTTP_202_ACCEPTED,
             summary="A custodian's vote for the round's contributor set (once per round)")
def set_vote(federation_id: str, round_id: str, body: SetVoteMessage, session: SessionDep,
             blobs: BlobsDep, me: CurrentCustodian) -> UploadAccepted:
    _in_federation(federation_id, me)
    federation, row = _threshold_round(session, federation_id, round_id)
    stored = custody_rounds.submit_vote(session, blobs, federation, row, me, body)
    return finished(session, UploadAccepted(round_id=row.id, stage=Stage.AGREE.value,
                                            stored=stored))


@router.get("/rounds/{round_id}/custody/decryption-request",
            summary="The round's uploads to sum, the custodians' votes for them and the "
                    "active set")
def decryption_request(federation_id: str, round_id: str, session: SessionDep,
                       me: CurrentCustodian) -> DecryptionRequestPublic:
    _in_federation(federation_id, me)
    row = _decrypting(session, federation_id, round_id)
    state = row.custody or {}
    uploads = rounds.stage_messages(session, row.id, Stage.UPLOAD.value)
    return finished(session, DecryptionRequestPublic(
        round_id=row.id, attempt=int(state.get("attempt", 0)),
        active=list(state.get("active", [])),
        contributions=[ContributionPublic(client_id=m.sender, signature=m.body,
                                          upload_digest=bytes.fromhex(m.blob or ""))
                       for m in uploads],
        certificate=[SetVoteMessage(custodian_index=v.index, set_digest=v.set_digest,
                                    signature=v.signature)
                     for v in custody_rounds.votes(session, row)]))


@router.get("/rounds/{round_id}/custody/uploads/{client_id}",
            summary="One client's upload, for a custodian to rebuild the sum (octets)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def upload(federation_id: str, round_id: str, client_id: int, session: SessionDep,
           blobs: BlobsDep, me: CurrentCustodian) -> Response:
    _in_federation(federation_id, me)
    row = _decrypting(session, federation_id, round_id)
    for m in rounds.stage_messages(session, row.id, Stage.UPLOAD.value):
        if m.sender == client_id and m.blob is not None:
            return finished(session, Response(blobs.get(m.blob), media_type=OCTETS))
    raise NotFoundError(f"client {client_id} has no upload in this round")


@router.put("/rounds/{round_id}/custody/partial", status_code=status.HTTP_202_ACCEPTED,
            summary="An active custodian's partial decryption of the sum (octets)",
            openapi_extra=octet_body_doc())
async def partial(federation_id: str, round_id: str, request: Request, session: SessionDep,
                  blobs: BlobsDep, me: CurrentCustodian, content_length: ContentLength,
                  attempt: Annotated[int, Query(ge=1, le=100, description=(
                      "the decryption request's attempt this partial answers"))]
                  ) -> UploadAccepted:
    _in_federation(federation_id, me)

    def size() -> tuple[FederationRow, RoundRow, int]:
        federation, row = _threshold_round(session, federation_id, round_id)
        return finished(session, (federation, row, custody_rounds.partial_size(federation)))

    federation, row, expected = await run_in_threadpool(size)
    body = await read_exact(request, content_length, expected, "a partial decryption")
    stored = await run_in_threadpool(custody_rounds.submit_partial, session, blobs, federation,
                                     row, me, body, attempt)
    return UploadAccepted(round_id=row.id, stage=Stage.DECRYPT.value, stored=stored)

