"""HTTP to the aggregator: timeouts, retries on transient failures only, problems as errors.

A retry is safe for every call the SDK makes: the server stores each
protocol message exactly once (the same bytes again are acknowledged, not
counted twice). Enrollment is the exception (an invite is single-use), so it
is never retried after the request may have reached the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from blindsum.errors import BlindsumError, ServiceUnavailableError, error_class_for

__all__ = ["LONG_POLL_SECONDS", "PROBLEM_PREFIX", "Transport"]

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
    message = detail or f"HTTP {response.status_code} from {response.request.url.path}"
    raise cls(message)


class Transport:
    """One base URL and bearer token; ``request`` returns a 2xx response or raises."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 60.0,
                 retries: int = 4, backoff_seconds: float = 0.5,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = client or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, *, retry: bool = True,
                headers: Mapping[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries on connection errors and 429/502/503/504; map problems to errors."""
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, path, headers=self._headers(headers),
                                              **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise ServiceUnavailableError(
                        f"cannot reach the aggregator at {self.base_url} "
                        f"({type(exc).__name__}); check the URL and that it is running") from exc
                logger.info("%s %s: %s, retrying", method, path, type(exc).__name__)
            else:
                if response.status_code not in _TRANSIENT_STATUS or last:
                    raise_for_problem(response)
                    return response
                logger.info("%s %s: HTTP %d, retrying", method, path, response.status_code)
            time.sleep(self.backoff_seconds * 2**attempt)
        raise AssertionError("unreachable")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)
