"""What the threshold-custody tests share: custodians enrolled through the SDK over an
in-process service, and reads of the service's own tables."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from blindsum.aggregator.models import MessageRow, RoundRow
from blindsum.client_sdk import AsyncCustodian
from blindsum.client_sdk.transport import AsyncTransport

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
