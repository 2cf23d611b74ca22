"""FastAPI dependencies: the database session, the blob store and who is calling.

Connection hygiene, the one rule behind :func:`finished`, :func:`_released` and the
session's async teardown: a request never holds a pooled database connection while it
waits, whether for a worker thread, a request body or another stage. With hundreds of
concurrent clients, each such wait used to hold a connection and exhausted the pool.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.credentials import CUSTODIAN_PREFIX
from blindsum.aggregator.custodians import authenticate_custodian
from blindsum.aggregator.federations import authenticate_client
from blindsum.aggregator.models import ClientRow, CustodianRow
from blindsum.errors import AuthError

__all__ = ["AdminDep", "AdminOrClient", "AdminOrMember", "BlobsDep", "CurrentClient",
           "CurrentCustodian", "SessionDep", "finished", "known_query_only"]

_bearer = HTTPBearer(auto_error=False)
_T = TypeVar("_T")


async def _session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed on the event loop as soon as the response is done
    (a sync teardown would wait for a worker thread holding its connection)."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


def finished(session: Session, value: _T) -> _T:
    """End the request's transaction before FastAPI validates the response (for sync
    handlers that waits for a worker thread; see the module's connection rule)."""
    session.commit()
    return value


def _blobs(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blobs
    return store


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError("invalid credentials")
    return credentials.credentials


def _admin(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    expected: bytes = request.app.state.admin_token.encode()
    if not hmac.compare_digest(_token(credentials).encode(), expected):
        raise AuthError("invalid credentials")


def _client(session: Annotated[Session, Depends(_session)],
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            ) -> ClientRow:
    return _released(session, authenticate_client(session, _token(credentials)))


def _custodian(session: Annotated[Session, Depends(_session)],
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
               ) -> CustodianRow:
    return _released(session, authenticate_custodian(session, _token(credentials)))


def _released(session: Session, caller: _T) -> _T:
    """End the lookup's transaction before the handler runs (the module's connection rule)."""
    session.commit()
    return caller


def _caller(request: Request, session: Annotated[Session, Depends(_session)],
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            ) -> ClientRow | None:
    """The calling client, or ``None`` for the admin."""
    token = _token(credentials)
    if hmac.compare_digest(token.encode(), request.app.state.admin_token.encode()):
        return None
    return _released(session, authenticate_client(session, token))


def _member(request: Request, session: Annotated[Session, Depends(_session)],
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            ) -> ClientRow | CustodianRow | None:
    """The calling client or custodian (by its token's prefix), or ``None`` for the admin."""
    token = _token(credentials)
    if token.startswith(CUSTODIAN_PREFIX):
        return _released(session, authenticate_custodian(session, token))
    return _caller(request, session, credentials)


SessionDep = Annotated[Session, Depends(_session)]
AdminOrClient = Annotated[ClientRow | None, Depends(_caller)]
BlobsDep = Annotated[BlobStore, Depends(_blobs)]
AdminDep = Annotated[None, Depends(_admin)]
CurrentClient = Annotated[ClientRow, Depends(_client)]
CurrentCustodian = Annotated[CustodianRow, Depends(_custodian)]
AdminOrMember = Annotated[ClientRow | CustodianRow | None, Depends(_member)]
"""The admin (None), a client or a custodian: who may read a federation's rounds."""


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters an operation declares, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def known_query_only(request: Request) -> None:
    """Refuse a query parameter the operation does not declare, as bodies refuse unknown
    fields (a misspelt ``wiat=25`` would otherwise be ignored without a word)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise RequestValidationError([
            {"loc": ("query", name), "msg": "this operation has no such query parameter",
             "type": "extra_forbidden"} for name in unknown])
