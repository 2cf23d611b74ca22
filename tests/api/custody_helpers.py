"""What the threshold-custody tests share: custodians enrolled through the SDK over an
in-process service, and reads of the service's own tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from blindsum.aggregator.models import MessageRow, RoundRow
from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncClient, AsyncCustodian
from blindsum.client_sdk.transport import AsyncTransport
from blindsum.wire import FederationPublic

BASE = "http://blindsum.test"


async def enroll_custodian(transport: Any, fid: str, code: str, path: Path,
                           **options: Any) -> tuple[AsyncCustodian, AsyncTransport]:
    """An SDK custodian (and its transport, which tests may wrap) over ``transport``."""
    custodian = await AsyncCustodian.enroll(BASE, fid, code, state_file=path,
                                            transport=transport, **options)
    return custodian, custodian.transport


def message_count(app: Any, round_id: str, stage: str) -> int:
    with app.state.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(MessageRow).where(
            MessageRow.round_id == round_id, MessageRow.stage == stage)) or 0)


def stage_of(app: Any, round_id: str) -> str:
    with app.state.sessions() as s:
        row = s.get(RoundRow, round_id)
        assert row is not None
        return row.stage


async def until(predicate: Callable[[], bool], timeout: float = 25.0) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.05)


@dataclass
class World:
    """An in-process service with a threshold-custody federation, its custodians (each
    with its transport) and its clients, all enrolled through the SDK."""

    app: Any
    asgi: Any
    admin: AsyncAdmin
    fed: FederationPublic
    sites: list[tuple[AsyncCustodian, AsyncTransport]]
    clients: list[AsyncClient]

    async def close(self) -> None:
        await self.admin.aclose()
        for c in self.clients:
            await c.aclose()
        for custodian, _ in self.sites:
            await custodian.aclose()
        self.app.state.engine.dispose()


async def threshold_world(tmp_path: Path, *, admin_token: str, timeout: float,
                          dim: int = 40, clients: int = 4) -> World:
    """Four custodians (any two decrypt) and ``clients`` clients of one federation."""
    app = create_app(Settings(data_dir=tmp_path / "data", admin_token=admin_token,
                              database_url=f"sqlite:///{tmp_path / 'service.db'}"))
    asgi = httpx.ASGITransport(app=app)
    admin = AsyncAdmin(BASE, admin_token, transport=asgi)
    fed = await admin.create_federation("t", "ckks", [("w", (dim,))], min_clients=3,
                                        max_clients=6, custody="threshold", custodians=4,
                                        custodian_threshold=2, stage_timeout_seconds=timeout)
    sites = [await enroll_custodian(asgi, fed.id,
                                    await admin.invite(fed.id, f"k{i}", "custodian"),
                                    tmp_path / f"k{i}.json") for i in range(4)]
    members = [await AsyncClient.enroll(BASE, fed.id, await admin.invite(fed.id, f"c{i}"),
                                        transport=asgi, state_file=tmp_path / f"c{i}.json")
               for i in range(clients)]
    return World(app, asgi, admin, fed, sites, members)
