"""Rounds: open, read, upload (ckks), close, abort, results."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Header, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from blindsum.aggregator import ckks_rounds, ledger, rounds, secagg_rounds
from blindsum.aggregator import federations as feds
from blindsum.aggregator.deadlines import close_current_stage
from blindsum.aggregator.models import ClientRow, CustodianRow, FederationRow, RoundRow
from blindsum.api.bodies import OCTETS, octet_body_doc, read_exact
from blindsum.api.deps import AdminDep, AdminOrMember, BlobsDep, CurrentClient, SessionDep, finished
from blindsum.api.problems import problem_responses
from blindsum.crypto import base64url
from blindsum.crypto.ckks.wire import upload_size
from blindsum.errors import NotFoundError, RoundStateError
from blindsum.wire import (
    SIGNATURE_PATTERN,
    DPEventReport,
    LedgerRecorded,
    RoundPublic,
    UploadAccepted,
)

router = APIRouter(prefix="/v1/federations/{federation_id}", tags=["rounds"],
                   responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503))
POLL_INTERVAL_SECONDS = 0.2


def _public(row: RoundRow) -> RoundPublic:
    return RoundPublic.model_validate(row)


def _member(federation_id: str, caller: ClientRow | CustodianRow | None) -> None:
    if caller is not None and caller.federation_id != federation_id:
        raise NotFoundError("no such federation")


@router.post("/rounds", status_code=status.HTTP_201_CREATED, summary="Open the next round (admin)")
def open_round(federation_id: str, session: SessionDep, _admin: AdminDep) -> RoundPublic:
    federation = feds.get_federation(session, federation_id)
    driver = ckks_rounds if federation.mode == "ckks" else secagg_rounds
    return finished(session, _public(rounds.open_round(session, federation,
                                     lambda n: driver.protocol_for(federation, n))))


MAX_WAIT_SECONDS = 60.0
WaitQuery = Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description=(
    "Long-poll: answer as soon as the stage is no longer `after`, or after this many seconds"))]
AfterQuery = Annotated[str | None, Query(max_length=64,
                                         description="The stage the caller has seen")]


def _observe(session: SessionDep, blobs: BlobsDep, kek: bytes, federation_id: str,
             round_id: str | None) -> RoundRow:
    """A fresh read of the round, closing its stage first if the deadline has passed."""
    session.expire_all()
    if round_id is None:
        row = rounds.current_round(session, federation_id)
    else:
        row = rounds.get_round(session, federation_id, round_id)
    if row.stage not in (rounds.CLOSED, rounds.ABORTED) and row.stage_deadline <= datetime.now(UTC):
        try:
            close_current_stage(session, blobs, row, kek)
        except RoundStateError:
            session.rollback()
            session.refresh(row)  # another worker closed it first
    session.commit()  # end the read transaction: a long-poll holds no connection
    return row


async def _watch(request: Request, session: SessionDep, blobs: BlobsDep, federation_id: str,
                 round_id: str | None, after: str | None, wait: float) -> RoundPublic:
    kek = request.app.state.custody_kek
    give_up = time.monotonic() + wait
    while True:
        row = await run_in_threadpool(_observe, session, blobs, kek, federation_id, round_id)
        if after is None or row.stage != after or time.monotonic() >= give_up:
            return _public(row)
        if await request.is_disconnected():
            return _public(row)
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


@router.get("/rounds/current", summary="The newest round (poll or long-poll it to follow stages)")
async def current(federation_id: str, request: Request, session: SessionDep, blobs: BlobsDep,
                  caller: AdminOrMember, after: AfterQuery = None,
                  wait: WaitQuery = 0.0) -> RoundPublic:
    _member(federation_id, caller)
    return await _watch(request, session, blobs, federation_id, None, after, wait)


@router.get("/rounds/{round_id}", summary="One round (poll or long-poll it to follow stages)")
async def get_round(federation_id: str, round_id: str, request: Request, session: SessionDep,
                    blobs: BlobsDep, caller: AdminOrMember, after: AfterQuery = None,
                    wait: WaitQuery = 0.0) -> RoundPublic:
    _member(federation_id, caller)
    return await _watch(request, session, blobs, federation_id, round_id, after, wait)


@router.get("/ckks/public-context", summary="The CKKS public context (no secret key)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def public_context(federation_id: str, session: SessionDep, blobs: BlobsDep,
                   caller: AdminOrMember) -> Response:
    _member(federation_id, caller)
    return finished(session, Response(ckks_rounds.public_context(session, blobs, federation_id),
                                      media_type=OCTETS))


def _ckks_round(session: SessionDep, federation_id: str, round_id: str
                ) -> tuple[FederationRow, RoundRow]:
    """Both rows, the lookup's transaction ended in the same worker-thread call."""
    federation = feds.get_federation(session, federation_id)
    if federation.mode != "ckks":
        raise NotFoundError("this federation uses secagg: upload with PUT .../secagg/masked-input")
    return finished(session, (federation, rounds.get_round(session, federation_id, round_id)))


@router.put("/rounds/{round_id}/ckks-upload", status_code=status.HTTP_202_ACCEPTED,
            summary="Upload this client's encrypted update (application/octet-stream)",
            openapi_extra=octet_body_doc())
async def ckks_upload(
    federation_id: str, round_id: str, request: Request, session: SessionDep,
    blobs: BlobsDep, me: CurrentClient,
    x_blindsum_signature: Annotated[str, Header(description="Ed25519 signature, base64url",
                                                pattern=SIGNATURE_PATTERN)],
    content_length: Annotated[int, Header(ge=0)],
) -> UploadAccepted:
    _member(federation_id, me)
    federation, row = await run_in_threadpool(_ckks_round, session, federation_id, round_id)
    expected = upload_size(ckks_rounds.params_of(federation), federation.dimension)
    body = await read_exact(request, content_length, expected, "a CKKS upload for this federation")
    signature = base64url.decode(x_blindsum_signature, size=64, what="X-Blindsum-Signature")
    stored = await run_in_threadpool(
        ckks_rounds.submit_upload, session, blobs, federation, row, me, body, signature,
        kek=request.app.state.custody_kek)
    return UploadAccepted(round_id=row.id, stage=ckks_rounds.STAGE, stored=stored)


@router.post("/rounds/{round_id}/close", summary="End the current stage now (admin)")
def close(federation_id: str, round_id: str, request: Request, session: SessionDep,
          blobs: BlobsDep, _admin: AdminDep) -> RoundPublic:
    row = rounds.get_round(session, federation_id, round_id)
    close_current_stage(session, blobs, row, request.app.state.custody_kek)
    return finished(session, _public(row))


@router.post("/rounds/{round_id}/abort", summary="Abort the round (admin)")
def abort(federation_id: str, round_id: str, session: SessionDep, _admin: AdminDep) -> RoundPublic:
    row = rounds.get_round(session, federation_id, round_id)
    rounds.lock_stage(session, row, row.stage)
    if row.stage in (rounds.CLOSED, rounds.ABORTED):
        session.rollback()
        raise RoundStateError(f"the round is already {row.stage}")
    rounds.abort_round(row, "aborted by the administrator")
    session.commit()
    return finished(session, _public(row))


def _closed_result(session: SessionDep, blobs: BlobsDep, federation_id: str,
                   round_id: str) -> tuple[RoundRow, bytes]:
    row = rounds.get_round(session, federation_id, round_id)
    if row.stage != rounds.CLOSED or row.result_blob is None:
        raise RoundStateError(f"the round is {row.stage!r}; only a closed round has a result")
    return row, blobs.get(row.result_blob)


@router.get("/rounds/{round_id}/result/sum", summary="The closed round's sum (float64 LE)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def result_sum(federation_id: str, round_id: str, session: SessionDep, blobs: BlobsDep,
               caller: AdminOrMember) -> Response:
    _member(federation_id, caller)
    row, data = _closed_result(session, blobs, federation_id, round_id)
    headers = {"X-Blindsum-Contributors": str(len(row.contributors or []))}
    return finished(session, Response(data, media_type=OCTETS, headers=headers))


@router.get("/rounds/{round_id}/result/average",
            summary="The closed round's average: the sum over the contributors (float64 LE)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def result_average(federation_id: str, round_id: str, session: SessionDep, blobs: BlobsDep,
                   caller: AdminOrMember) -> Response:
    _member(federation_id, caller)
    row, data = _closed_result(session, blobs, federation_id, round_id)
    count = len(row.contributors or [])
    average = np.frombuffer(data, dtype="<f8") / count
    return finished(session, Response(average.astype("<f8").tobytes(), media_type=OCTETS,
                                      headers={"X-Blindsum-Contributors": str(count)}))


@router.post("/rounds/{round_id}/dp-event", status_code=status.HTTP_201_CREATED,
             summary="Report this client's signed DP event for the round (privacy ledger)")
def report_dp_event(federation_id: str, round_id: str, body: DPEventReport,
                    session: SessionDep, me: CurrentClient) -> LedgerRecorded:
    _member(federation_id, me)
    federation = feds.get_federation(session, federation_id)
    row = ledger.record_event(session, federation, rounds.get_round(session, federation_id,
                                                                    round_id),
                              me, body.event, body.signature)
    ledger.check_within_budget(session, federation, me)  # recorded, then refused if over
    return finished(session, LedgerRecorded.model_validate(row))
