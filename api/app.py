"""``create_app(settings)``: the FastAPI application factory (``uvicorn --factory``)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from blindsum import __version__
from blindsum.aggregator.blobs import LocalBlobStore
from blindsum.aggregator.db import make_engine, make_sessionmaker, upgrade
from blindsum.aggregator.deadlines import close_expired
from blindsum.api.deps import known_query_only
from blindsum.api.problems import install_problem_handlers
from blindsum.api.routes import custody, federations, health, rounds, secagg
from blindsum.api.settings import Settings
from blindsum.crypto import base64url
from blindsum.errors import ConfigError, MalformedMessageError

__all__ = ["create_app"]

logger = logging.getLogger("blindsum.api")


def _admin_token(settings: Settings) -> str:
    """The configured admin token, or in dev one generated once into ``data_dir/admin-token``."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    return _dev_secret_file(settings.data_dir / "admin-token", secrets.token_urlsafe(32))


def _dev_secret_file(path: Path, make: str) -> str:
    """A secret generated once into ``path`` (mode 0600), for development only."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make + "\n")
        logger.warning("generated %s (dev only; set it in the environment in production)", path)
    return path.read_text().strip()


def _custody_kek(settings: Settings) -> bytes:
    """The key that seals CKKS secret keys at rest (32 bytes)."""
    text = (settings.custody_kek.get_secret_value() if settings.custody_kek is not None else
            _dev_secret_file(settings.data_dir / "custody-kek",
                             base64url.encode(os.urandom(32))))
    try:
        return base64url.decode(text, size=32, what="BLINDSUM_CUSTODY_KEK")
    except MalformedMessageError as exc:
        raise ConfigError(f"{exc}; make one with: python -c 'import base64, os; "
                          "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'") from None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the deadline sweeper while the server runs (uvicorn sends lifespan events)."""
    async def sweep() -> None:
        state = app.state
        while True:
            await asyncio.sleep(state.settings.sweep_interval_seconds)
            try:
                await run_in_threadpool(close_expired, state.sessions, state.blobs,
                                        state.custody_kek)
            except Exception as exc:
                logger.error("deadline sweep failed: %s", type(exc).__name__)

    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: settings, database (migrated), blob store, routes, problem handlers."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    app = FastAPI(title="blindsum", version=__version__, lifespan=_lifespan,
                  summary="Federated aggregation where the server only learns the sum.",
                  dependencies=[Depends(known_query_only)])
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.blobs = LocalBlobStore(settings.data_dir / "blobs")
    app.state.admin_token = _admin_token(settings)
    app.state.custody_kek = _custody_kek(settings)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(federations.router)
    app.include_router(rounds.router)
    app.include_router(secagg.router)
    app.include_router(custody.router)
    return app
