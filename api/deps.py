"""FastAPI dependencies: the database session, the blob store and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from blindsum.aggregator.blobs import BlobStore
from blindsum.aggregator.federations import authenticate_client
from blindsum.aggregator.models import ClientRow
from blindsum.errors import AuthError

__all__ = ["AdminDep", "AdminOrClient", "BlobsDep", "CurrentClient", "SessionDep"]

_bearer = HTTPBearer(auto_error=False)


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


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
    return authenticate_client(session, _token(credentials))


def _caller(request: Request, session: Annotated[Session, Depends(_session)],
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            ) -> ClientRow | None:
    """The calling client, or ``None`` for the admin."""
    token = _token(credentials)
    if hmac.compare_digest(token.encode(), request.app.state.admin_token.encode()):
        return None
    return authenticate_client(session, token)


SessionDep = Annotated[Session, Depends(_session)]
AdminOrClient = Annotated[ClientRow | None, Depends(_caller)]
BlobsDep = Annotated[BlobStore, Depends(_blobs)]
AdminDep = Annotated[None, Depends(_admin)]
CurrentClient = Annotated[ClientRow, Depends(_client)]
