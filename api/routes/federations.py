"""Federations, invites, enrollment and the roster."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from blindsum.aggregator import ckks_rounds, global_model, reports
from blindsum.aggregator import federations as feds
from blindsum.aggregator.models import ClientRow
from blindsum.aggregator.report_html import report_html
from blindsum.api.bodies import OCTETS, octet_body_doc, read_exact
from blindsum.api.deps import (
    AdminDep,
    AdminOrClient,
    AdminOrMember,
    BlobsDep,
    CurrentClient,
    SessionDep,
    finished,
)
from blindsum.api.problems import problem_responses
from blindsum.errors import NotFoundError
from blindsum.wire import (
    ClientPublic,
    EnrollRequest,
    EnrollResponse,
    FederationCreate,
    FederationPublic,
    InviteCreate,
    InvitePublic,
)

router = APIRouter(prefix="/v1/federations", tags=["federations"],
                   responses=problem_responses(400, 401, 404, 409, 413, 422))




@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a federation (admin)")
def create_federation(body: FederationCreate, request: Request, session: SessionDep,
                      _admin: AdminDep) -> FederationPublic:
    row = feds.create_federation(session, body)
    if row.mode == "ckks":
        ckks_rounds.create_custody(session, request.app.state.blobs, row,
                                   request.app.state.custody_kek)
    return finished(session, FederationPublic.model_validate(row))


@router.get("/{federation_id}",
            summary="A federation's settings (admin, its clients and custodians)")
def get_federation(federation_id: str, session: SessionDep,
                   caller: AdminOrMember) -> FederationPublic:
    if caller is not None and caller.federation_id != federation_id:
        raise NotFoundError("no such federation")
    return finished(session,
                    FederationPublic.model_validate(feds.get_federation(session, federation_id)))


@router.get("/{federation_id}/global", summary="The global adapter (float64 LE, spec order)",
            response_class=Response, responses={200: {"content": {OCTETS: {}}}})
def get_global(federation_id: str, session: SessionDep, blobs: BlobsDep,
               caller: AdminOrClient) -> Response:
    if caller is not None and caller.federation_id != federation_id:
        raise NotFoundError("no such federation")
    data, applied = global_model.read(session, blobs, feds.get_federation(session, federation_id))
    return finished(session, Response(data, media_type=OCTETS,
                                      headers={"X-Blindsum-Rounds-Applied": str(applied)}))


@router.put("/{federation_id}/global", status_code=status.HTTP_204_NO_CONTENT,
            openapi_extra=octet_body_doc(), response_class=Response,
            summary="Set the starting global adapter, before any round closes (admin)")
async def set_global(federation_id: str, request: Request, session: SessionDep,
                     blobs: BlobsDep, _admin: AdminDep,
                     content_length: Annotated[int, Header(ge=0)]) -> Response:
    federation = await run_in_threadpool(
        lambda: finished(session, feds.get_federation(session, federation_id)))
    data = await read_exact(request, content_length, 8 * federation.dimension,
                            "the global adapter (float64 per value)")
    await run_in_threadpool(global_model.set_initial, session, blobs, federation, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{federation_id}/invites", status_code=status.HTTP_201_CREATED,
             summary="Issue a one-time invite code (admin)")
def create_invite(federation_id: str, body: InviteCreate, request: Request,
                  session: SessionDep, _admin: AdminDep) -> InvitePublic:
    ttl = timedelta(seconds=request.app.state.settings.invite_ttl_seconds)
    code, row = feds.create_invite(session, federation_id, label=body.label, ttl=ttl,
                                   role=body.role)
    return finished(session, InvitePublic(code=code, federation_id=row.federation_id,
                                          expires_at=row.expires_at))


@router.post("/{federation_id}/enroll", status_code=status.HTTP_201_CREATED,
             summary="Enroll with an invite code and an Ed25519 identity key")
def enroll(federation_id: str, body: EnrollRequest, session: SessionDep) -> EnrollResponse:
    client, token = feds.enroll(session, federation_id, invite_code=body.invite_code,
                                identity_key=body.identity_key, proof=body.proof,
                                label=body.label)
    return finished(session, EnrollResponse(client_id=client.id,
                                            federation_id=client.federation_id, token=token))


@router.get("/{federation_id}/clients", summary="Enrolled clients and identity keys (admin)")
def list_clients(federation_id: str, session: SessionDep,
                 _admin: AdminDep) -> list[ClientPublic]:
    feds.get_federation(session, federation_id)
    rows = session.scalars(select(ClientRow).where(ClientRow.federation_id == federation_id)
                           .order_by(ClientRow.id))
    return finished(session, [ClientPublic.model_validate(r) for r in rows])


@router.get("/{federation_id}/roster",
            summary="Identity keys of the federation's clients (its clients and custodians)")
def roster(federation_id: str, session: SessionDep, me: AdminOrMember) -> list[ClientPublic]:
    if me is not None and me.federation_id != federation_id:
        raise NotFoundError("no such federation")
    rows = session.scalars(select(ClientRow).where(ClientRow.federation_id == federation_id)
                           .order_by(ClientRow.id))
    return finished(session, [ClientPublic.model_validate(r) for r in rows])


@router.get("/{federation_id}/me", summary="The calling client's enrollment")
def me(federation_id: str, me: CurrentClient) -> ClientPublic:
    if me.federation_id != federation_id:
        raise NotFoundError("no such federation")
    return ClientPublic.model_validate(me)


@router.get("/{federation_id}/privacy-report",
            summary="What privacy was spent, by whom, under which assumptions (JSON or HTML)",
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def privacy_report(federation_id: str, session: SessionDep, caller: AdminOrClient,
                   format: Literal["json", "html"] = "json") -> Response:
    if caller is not None and caller.federation_id != federation_id:
        raise NotFoundError("no such federation")
    report = reports.build_report(session, feds.get_federation(session, federation_id))
    if format == "html":
        return finished(session, HTMLResponse(report_html(report)))
    return finished(session, JSONResponse(report))
