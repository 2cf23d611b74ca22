"""The admin SDK builds its requests from the shared wire models, so bad settings fail early."""

from __future__ import annotations

import httpx
import pytest

from blindsum.client_sdk.admin import Admin
from blindsum.errors import ConfigError
from blindsum.wire import FederationPublic

from .fakes import federation_json


def _admin(sent: list[httpx.Request], reply: dict | None = None) -> Admin:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json=federation_json(mode="ckks") if reply is None else reply)
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


def test_replies_are_typed_and_a_reply_that_does_not_fit_is_refused_by_name() -> None:
    created = _admin([]).create_federation("x", "ckks", [("a", (2, 3))])
    assert isinstance(created, FederationPublic) and created.client_dp is not None
    assert created.client_dp.noise_multiplier == 1.0
    with pytest.raises(ConfigError, match=r"dimension: .*upgrade blindsum"):
        _admin([], reply=federation_json(dimension="many")).create_federation(
            "x", "ckks", [("a", (2, 3))])
