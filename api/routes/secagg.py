"""SecAgg+ stages over HTTP: JSON messages, the binary masked input, and relays.

The routes only authenticate, size-check and hand over; what a message means
is :mod:`blindsum.aggregator.secagg_rounds`' business (and, below it, the
crypto state machine's). Envelopes are relayed as the server received them:
it cannot open them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from pydantic import AfterValidator, WithJsonSchema
from starlette.concurrency import run_in_threadpool

from blindsum.aggregator import rounds, secagg_rounds
from blindsum.aggregator.models import ClientRow, RoundRow
from blindsum.api.bodies import json_body_doc, octet_body_doc, read_json, stream_to_blob
from blindsum.api.deps import BlobsDep, CurrentClient, SessionDep, finished
from blindsum.api.problems import problem_responses
from blindsum.crypto.secagg.stages import JSON_STAGES, RELAY_STAGES, Stage
from blindsum.errors import NotFoundError
from blindsum.wire import UploadAccepted

router = APIRouter(prefix="/v1/federations/{federation_id}/rounds/{round_id}/secagg",
                   tags=["secagg"], responses=problem_responses(400, 401, 403, 404, 409, 413, 422))



def _one_of(stages: tuple[Stage, ...]) -> tuple[AfterValidator, WithJsonSchema]:
    """A path parameter restricted to ``stages``, with the schema stating exactly those."""
    def check(stage: Stage) -> Stage:
        if stage not in stages:
            raise ValueError(f"expected one of {[s.value for s in stages]}")
        return stage
    return AfterValidator(check), WithJsonSchema({"type": "string",
                                                   "enum": [s.value for s in stages]})


_JSON_CHECK, _JSON_SCHEMA = _one_of(JSON_STAGES)
_RELAY_CHECK, _RELAY_SCHEMA = _one_of(RELAY_STAGES)
JsonStage = Annotated[Stage, _JSON_CHECK, _JSON_SCHEMA]
RelayStage = Annotated[Stage, _RELAY_CHECK, _RELAY_SCHEMA]
ContentLength = Annotated[int, Header(ge=0)]


def _secagg_round(session: SessionDep, federation_id: str, round_id: str,
                  me: ClientRow) -> RoundRow:
    if me.federation_id != federation_id:
        raise NotFoundError("no such federation")
    row = rounds.get_round(session, federation_id, round_id)
    if row.protocol.get("mode") != "secagg":
        raise NotFoundError("this round is not a secagg round")
    return row


def _looked_up(session: SessionDep, federation_id: str, round_id: str,
               me: ClientRow) -> RoundRow:
    """The round, with the lookup's transaction ended in the same worker-thread call
    (:mod:`blindsum.api.deps`' connection rule: the handler then awaits the body)."""
    return finished(session, _secagg_round(session, federation_id, round_id, me))


@router.post("/{stage}", status_code=status.HTTP_202_ACCEPTED, openapi_extra=json_body_doc(),
             summary="Send this client's message for a JSON stage")
async def send_message(federation_id: str, round_id: str, stage: JsonStage, request: Request,
                       session: SessionDep, blobs: BlobsDep, me: CurrentClient,
                       content_length: ContentLength) -> UploadAccepted:
    row = await run_in_threadpool(_looked_up, session, federation_id, round_id, me)
    payload = await read_json(request, content_length)
    stored = await run_in_threadpool(secagg_rounds.receive, session, blobs, row, me,
                                     stage.value, payload)
    return UploadAccepted(round_id=row.id, stage=stage.value, stored=stored)


@router.put(f"/{Stage.MASKED_INPUT.value}", status_code=status.HTTP_202_ACCEPTED,
            openapi_extra=octet_body_doc(),
            summary="Upload this client's masked input (little-endian words, octet-stream)")
async def send_masked_input(federation_id: str, round_id: str, request: Request,
                            session: SessionDep, blobs: BlobsDep, me: CurrentClient,
                            content_length: ContentLength) -> UploadAccepted:
    row = await run_in_threadpool(_looked_up, session, federation_id, round_id, me)
    expected = secagg_rounds.masked_input_bytes(row)
    writer = await stream_to_blob(request, content_length, expected,
                                  "a masked input for this round", blobs)
    try:
        stored = await run_in_threadpool(secagg_rounds.receive, session, blobs, row, me,
                                         Stage.MASKED_INPUT.value,
                                         secagg_rounds.PendingBlob(writer))
    finally:
        writer.discard()  # a no-op once published; removes a refused upload's bytes
    return UploadAccepted(round_id=row.id, stage=Stage.MASKED_INPUT.value, stored=stored)


@router.get("/{stage}/relay", summary="What the server relays to this client after a stage")
def relay(federation_id: str, round_id: str, stage: RelayStage, session: SessionDep,
          me: CurrentClient) -> Any:
    row = _secagg_round(session, federation_id, round_id, me)
    return finished(session, secagg_rounds.relay_for(session, row, stage.value, me.id))
