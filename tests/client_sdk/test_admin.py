"""The admin SDK builds its requests from the shared wire models, so bad settings fail early."""

from __future__ import annotations

import httpx
import pytest

from blindsum.client_sdk.admin import Admin
from blindsum.errors import ConfigError


def _admin(sent: list[httpx.Request]) -> Admin:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"id": "f"})
    http = httpx.Client(base_url="http://blindsum.test", transport=httpx.MockTransport(answer))
    return Admin("http://blindsum.test", "t" * 40, client=http)


def test_settings_the_schema_refuses_are_refused_before_sending() -> None:
    sent: list[httpx.Request] = []
    with pytest.raises(ConfigError, match="min_clients"):
        _admin(sent).create_federation("x", "secagg", [("a", (2,))], min_clients=2)
    with pytest.raises(ConfigError, match="dropout_rate"):
        _admin(sent).create_federation("x", "secagg", [("a", (2,))], dropout_rate=True)
    assert sent == []


def test_only_the_settings_given_are_sent() -> None:
    sent: list[httpx.Request] = []
    _admin(sent).create_federation("x", "ckks", [("a", (2, 3))], clip_norm=0.5)
    assert sent[0].read() == (b'{"name":"x","mode":"ckks","parameters":[{"name":"a","shape":'
                              b'[2,3]}],"clip_norm":0.5}')
