"""RFC 9457 problem details: every error leaves the service as ``application/problem+json``.

Each :class:`~blindsum.errors.BlindsumError` subclass has a stable ``type`` URN
(the SDK maps it back to the same class); routes raise blindsum errors and
never ``HTTPException``. Unexpected exceptions become an opaque 500: no stack
trace, no request data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from blindsum import errors

__all__ = ["MEDIA_TYPE", "PROBLEMS", "Problem", "install_problem_handlers", "problem_for",
           "problem_responses"]

MEDIA_TYPE = "application/problem+json"
logger = logging.getLogger("blindsum.api")


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    error: type[errors.BlindsumError]

    @property
    def type(self) -> str:
        return f"urn:blindsum:problem:{self.error.slug}"


def _p(error: type[errors.BlindsumError], status: int, title: str) -> Problem:
    return Problem(status, title, error)


PROBLEMS: dict[type[errors.BlindsumError], Problem] = {p.error: p for p in (
    _p(errors.BlindsumError, 400, "Request failed"),
    _p(errors.ConfigError, 422, "Invalid or unsafe configuration"),
    _p(errors.ProtocolError, 409, "Protocol violation"),
    _p(errors.RoundStateError, 409, "Not allowed in the round's stage"),
    _p(errors.MalformedMessageError, 400, "Malformed message"),
    _p(errors.WrongSizeError, 422, "Upload size does not match the round"),
    _p(errors.PayloadTooLargeError, 413, "Request body too large"),
    _p(errors.ThresholdNotMetError, 409, "Too few participants"),
    _p(errors.CryptoError, 422, "A cryptographic check failed"),
    _p(errors.InvalidSignatureError, 422, "Signature did not verify"),
    _p(errors.InvalidShareError, 422, "Invalid secret shares"),
    _p(errors.DecryptionError, 422, "Decryption failed"),
    _p(errors.BudgetExhaustedError, 403, "Privacy budget exhausted"),
    _p(errors.AuthError, 401, "Invalid credentials"),
    _p(errors.NotFoundError, 404, "Not found"),
    _p(errors.ServiceUnavailableError, 503, "Service unavailable"),
)}


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "required": ["type", "title", "status", "instance"],
    "description": "RFC 9457 problem details; `type` names the error (urn:blindsum:problem:...)",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "instance": {"type": "string"}, "detail": {"type": "string"},
        "errors": {"type": "array", "description": "for invalid-request: what did not match",
                   "items": {"type": "object", "properties": {
                       "loc": {"type": "array"}, "msg": {"type": "string"}}}},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring these problem statuses (and the 500 any operation may
    give), each as ``application/problem+json`` with the problem titles it stands for."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        titles = sorted({p.title for p in PROBLEMS.values() if p.status == status}
                        | ({"Invalid request"} if status == 422 else set())
                        | ({"Internal error"} if status == 500 else set()))
        declared[status] = {"description": "; ".join(titles) or "Problem",
                            "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}}}
    return declared


def problem_for(exc: errors.BlindsumError) -> Problem:
    """The most specific registered problem for ``exc``'s class."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            return PROBLEMS[cls]
    return PROBLEMS[errors.BlindsumError]


def _response(status: int, type_: str, title: str, detail: str | None, instance: str,
              headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "instance": instance}
    if detail:
        body["detail"] = detail
    body.update(extra)
    sent = dict(headers or {})
    if status == 401:
        sent["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=sent or None)


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI documents for ``path``: those of the most specific template
    that matches it (a literal segment beats a parameter, as in OpenAPI). Starlette's own
    ``Allow`` lists only the first route that matched the path."""
    if not hasattr(app.state, "allow_index"):
        index = []
        for template, operations in app.openapi()["paths"].items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            index.append((re.compile(f"^{pattern}$"), template.count("{"),
                          sorted(m.upper() for m in operations)))
        app.state.allow_index = index
    matches = [(params, methods) for regex, params, methods in app.state.allow_index
               if regex.match(path)]
    return min(matches)[1] if matches else []


def install_problem_handlers(app: FastAPI) -> None:
    """Render blindsum errors, validation errors, HTTP errors and crashes as problems."""

    @app.exception_handler(errors.BlindsumError)
    async def _blindsum(request: Request, exc: errors.BlindsumError) -> JSONResponse:
        p = problem_for(exc)
        detail = None if isinstance(exc, errors.AuthError) else str(exc)
        return _response(p.status, p.type, p.title, detail, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return _response(422, "urn:blindsum:problem:invalid-request", "Invalid request",
                         "the request does not match the API schema", request.url.path,
                         errors=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        return _response(exc.status_code, "about:blank", str(exc.detail), None, request.url.path,
                         headers=headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled %s on %s %s", type(exc).__name__, request.method,
                     request.url.path)
        return _response(500, "urn:blindsum:problem:internal", "Internal error",
                         "the server failed; the error was logged without request data",
                         request.url.path)
