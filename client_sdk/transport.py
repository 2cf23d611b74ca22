"""HTTP to the aggregator: timeouts, retries on transient failures only, problems as errors.

A retry is safe for every call the SDK makes: the server stores each
protocol message exactly once (the same bytes again are acknowledged, not
counted twice). Enrollment is the exception (an invite is single-use), so it
is never retried after the request may have reached the server.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from blindsum.client_sdk.flows import Call, Flow, Reply, arun, run
from blindsum.errors import BlindsumError, ServiceUnavailableError, error_class_for

__all__ = ["LONG_POLL_SECONDS", "PROBLEM_PREFIX", "AsyncTransport", "RetryPolicy", "Transport"]

T = TypeVar("T")

LONG_POLL_SECONDS = 25.0
"""How long one long-poll asks the server to hold the request before answering."""

logger = logging.getLogger("blindsum.client_sdk")

PROBLEM_PREFIX = "urn:blindsum:problem:"
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the blindsum error class named by a problem+json response."""
    if response.is_success:
        return
    slug, detail = "", ""
    try:
        body = response.json()
        slug = str(body.get("type", "")).removeprefix(PROBLEM_PREFIX)
        detail = str(body.get("detail") or body.get("title") or "")
    except ValueError:
        pass
    cls = error_class_for(slug) if slug else BlindsumError
    if cls is BlindsumError and response.status_code == 404:
        cls = error_class_for("not-found")
    elif cls is BlindsumError and response.status_code in _TRANSIENT_STATUS:
        cls = ServiceUnavailableError  # a proxy's or balancer's own 502/503/504/429
    message = detail or f"HTTP {response.status_code} from {response.request.url.path}"
    raise cls(message)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a call again: connection failures and 429/502/503/504 only, at most
    ``retries`` more times, after the server's ``Retry-After`` if it sent one (capped), else
    an exponential backoff with full jitter (so many clients retrying do not stampede)."""

    retries: int = 4
    backoff_seconds: float = 0.5
    max_delay_seconds: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(self.max_delay_seconds, seconds)
        ceiling = min(self.max_delay_seconds, self.backoff_seconds * 2**attempt)
        return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


def _retry_after_seconds(value: str) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date."""
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else None


class _Base:
    """What the sync and async transports share: the URL, the token, the policy, and the
    decision after each attempt."""

    def __init__(self, base_url: str, token: str | None, policy: RetryPolicy) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.policy = policy

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def _kwargs(self, call: Call) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": self._headers(call.headers)}
        if call.json is not None:
            kwargs["json"] = call.json
        if call.content is not None:
            kwargs["content"] = call.content
        if call.params:
            kwargs["params"] = dict(call.params)
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        return kwargs

    def _attempts(self, call: Call) -> int:
        return 1 + (self.policy.retries if call.retry else 0)

    def _unreachable(self, exc: httpx.TransportError) -> ServiceUnavailableError:
        return ServiceUnavailableError(
            f"cannot reach the aggregator at {self.base_url} ({type(exc).__name__}); check "
            "the URL and that it is running")

    def _after(self, call: Call, attempt: int,
               outcome: httpx.Response | httpx.TransportError) -> Reply | float:
        """What attempt ``attempt`` came to: the reply, or how long to wait before the next;
        raises the problem the server named, or that it cannot be reached."""
        last = attempt >= self._attempts(call) - 1
        if isinstance(outcome, httpx.TransportError):
            if last:
                raise self._unreachable(outcome) from outcome
            logger.info("%s %s: %s, retrying", call.method, call.path, type(outcome).__name__)
            return self.policy.delay(attempt)
        if outcome.status_code in _TRANSIENT_STATUS and not last:
            logger.info("%s %s: HTTP %d, retrying", call.method, call.path, outcome.status_code)
            return self.policy.delay(attempt, outcome.headers.get("Retry-After"))
        raise_for_problem(outcome)
        return Reply(outcome.status_code, outcome.content, dict(outcome.headers))


class Transport(_Base):
    """One base URL and bearer token over a synchronous httpx client (any httpx transport).
    ``send`` makes one :class:`Call` (retrying what is safe); ``run`` drives a flow."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 60.0,
                 retries: int = 4, backoff_seconds: float = 0.5,
                 client: httpx.Client | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, token, RetryPolicy(retries, backoff_seconds))
        self._http = client or httpx.Client(base_url=self.base_url, timeout=timeout,
                                            transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, call: Call) -> Reply:
        for attempt in itertools.count():
            try:
                outcome = self._after(call, attempt, self._http.request(
                    call.method, call.path, **self._kwargs(call)))
            except httpx.TransportError as exc:
                outcome = self._after(call, attempt, exc)
            if isinstance(outcome, Reply):
                return outcome
            time.sleep(outcome)
        raise AssertionError("unreachable")

    def run(self, flow: Flow[T]) -> T:
        return run(flow, self.send)

    def request(self, method: str, path: str, *, retry: bool = True,
                headers: Mapping[str, str] | None = None, json: Any = None,
                content: bytes | None = None, params: Mapping[str, Any] | None = None,
                timeout: float | None = None) -> Reply:
        """One call, as keyword arguments (for code that is not a flow)."""
        return self.send(Call(method, path, json=json, content=content,
                              headers=dict(headers or {}), params=dict(params or {}),
                              timeout=timeout, retry=retry))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Reply:
        return self.request("PUT", path, **kwargs)


class AsyncTransport(_Base):
    """:class:`Transport` over an asynchronous httpx client (e.g. ``httpx.ASGITransport``
    to drive an in-process app)."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 60.0,
                 retries: int = 4, backoff_seconds: float = 0.5,
                 client: httpx.AsyncClient | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, token, RetryPolicy(retries, backoff_seconds))
        self._http = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                                 transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, call: Call) -> Reply:
        for attempt in itertools.count():
            try:
                outcome = self._after(call, attempt, await self._http.request(
                    call.method, call.path, **self._kwargs(call)))
            except httpx.TransportError as exc:
                outcome = self._after(call, attempt, exc)
            if isinstance(outcome, Reply):
                return outcome
            await asyncio.sleep(outcome)
        raise AssertionError("unreachable")

    async def run(self, flow: Flow[T]) -> T:
        return await arun(flow, self.send)
