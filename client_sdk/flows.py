"""Protocol flows without I/O: generators that yield requests and receive responses.

Like httpx's ``Auth.auth_flow``: a flow yields a :class:`Call` (or a :class:`Sleep`) and
is sent back the :class:`Reply`; a failed call is thrown into it as the blindsum error
the server named, so a flow catches what it expects (``except NotFoundError``) as plain
code would. :func:`run` drives a flow with a synchronous ``send`` and :func:`arun` with
an asynchronous one: the sync :class:`~blindsum.client_sdk.Client`, the
:class:`~blindsum.client_sdk.AsyncClient` and the tests' in-process ASGI driver all run
the very same protocol code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from blindsum.errors import BlindsumError

__all__ = ["Call", "Flow", "Reply", "Sleep", "arun", "run"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One HTTP request a flow wants made (``path`` is relative to the aggregator's URL).

    ``retry`` is false for the one call that must never be repeated (an enrollment spends
    its invite); every other call is idempotent on the server.
    """

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    retry: bool = True


@dataclass(frozen=True)
class Reply:
    """A successful (2xx) response."""

    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode()


@dataclass(frozen=True)
class Sleep:
    """Wait before going on (a poll interval), without tying the flow to a clock's API."""

    seconds: float


Flow = Generator[Call | Sleep, Reply | None, T]


def run(flow: Flow[T], send: Callable[[Call], Reply]) -> T:
    """Drive ``flow`` to its result, making each call with ``send`` (which raises the
    server's problem as a blindsum error; the error is thrown into the flow)."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                reply = send(step)
            except BlindsumError as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def arun(flow: Flow[T], send: Callable[[Call], Awaitable[Reply]]) -> T:
    """:func:`run` for an asynchronous ``send``."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                reply = await send(step)
            except BlindsumError as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
