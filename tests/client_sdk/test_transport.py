"""The SDK's HTTP layer: retries only what is transient, and raises the server's error class."""

from __future__ import annotations

import httpx
import pytest

from blindsum.client_sdk.transport import Transport
from blindsum.errors import (
    AuthError,
    BlindsumError,
    NotFoundError,
    RoundStateError,
    ServiceUnavailableError,
    WrongSizeError,
)


def _transport(responses: list, *, retries: int = 3) -> tuple[Transport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    client = httpx.Client(base_url="http://agg", transport=httpx.MockTransport(handler))
    return Transport("http://agg", "bsc_token", retries=retries, backoff_seconds=0,
                     client=client), seen


def _problem(status: int, slug: str, detail: str = "d") -> httpx.Response:
    return httpx.Response(status, json={"type": f"urn:blindsum:problem:{slug}", "title": "t",
                                        "status": status, "detail": detail},
                          headers={"content-type": "application/problem+json"})


def test_transient_failures_are_retried_until_success() -> None:
    transport, seen = _transport([httpx.Response(503), httpx.ConnectError("down"),
                                  httpx.Response(200, json={"ok": True})])
    assert transport.get("/x").json() == {"ok": True}
    assert len(seen) == 3
    assert all(r.headers["authorization"] == "Bearer bsc_token" for r in seen)


@pytest.mark.parametrize(("status", "slug", "cls"), [
    (409, "wrong-stage", RoundStateError), (422, "wrong-size", WrongSizeError),
    (401, "unauthorized", AuthError), (404, "not-found", NotFoundError)])
def test_problems_become_the_same_error_class_without_retry(status, slug, cls) -> None:
    transport, seen = _transport([_problem(status, slug, "what to do next")])
    with pytest.raises(cls, match="what to do next"):
        transport.post("/x", json={})
    assert len(seen) == 1


def test_unknown_problem_types_and_plain_errors_still_raise_blindsum_errors() -> None:
    transport, _ = _transport([_problem(400, "from-a-newer-server")])
    with pytest.raises(BlindsumError):
        transport.get("/x")
    transport, _ = _transport([httpx.Response(404, text="nope")])
    with pytest.raises(NotFoundError):
        transport.get("/x")


def test_unreachable_service_says_so_after_the_retries() -> None:
    transport, seen = _transport([httpx.ConnectError("refused")], retries=2)
    with pytest.raises(ServiceUnavailableError, match="cannot reach"):
        transport.get("/x")
    assert len(seen) == 3


def test_calls_that_must_not_repeat_are_tried_once() -> None:
    transport, seen = _transport([httpx.ConnectError("refused")])
    with pytest.raises(ServiceUnavailableError):
        transport.post("/enroll", json={}, retry=False)
    assert len(seen) == 1


def test_retry_after_is_honoured_and_backoff_is_jittered_below_its_ceiling(monkeypatch) -> None:
    import time
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from blindsum.client_sdk.transport import RetryPolicy

    policy = RetryPolicy(retries=4, backoff_seconds=0.5, max_delay_seconds=30)
    assert policy.delay(0, "7") == 7.0
    assert policy.delay(0, "3600") == 30.0  # capped
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    assert 18 <= policy.delay(0, later) <= 20
    assert all(0 <= policy.delay(3) <= 4.0 for _ in range(200))  # full jitter under 0.5 * 2^3
    assert len({policy.delay(3) for _ in range(20)}) > 1
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    transport, seen = _transport([httpx.Response(429, headers={"Retry-After": "2"}),
                                  httpx.Response(200, json={})])
    transport.get("/x")
    assert slept == [2.0] and len(seen) == 2


def test_the_enrollment_flow_is_never_retried() -> None:
    from blindsum.client_sdk.enrollment import enrollment
    from blindsum.crypto.identity import generate_identity_key

    transport, seen = _transport([httpx.Response(503), httpx.Response(201, json={})])
    with pytest.raises(ServiceUnavailableError):
        transport.run(enrollment("f", "bsi_" + "x" * 20, generate_identity_key()))
    assert len(seen) == 1  # an invite works once: a lost response is not replayed
