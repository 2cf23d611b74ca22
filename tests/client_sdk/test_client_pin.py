"""The client pins the settings its privacy figures rest on; a server cannot move them."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from blindsum.client_sdk.client import Client, ClientState
from blindsum.crypto import base64url
from blindsum.crypto.secagg.distributed_dp import DDGParams
from blindsum.errors import BudgetExhaustedError, ConfigError

from .fakes import federation_json

FEDERATION = federation_json()
DDG = DDGParams.derive(dimension=1000, clip=1.0, noise_multiplier=1.0, min_survivors=10,
                       max_clients=20)


def _client(state: ClientState, live: dict[str, Any]) -> Client:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/federations/f"
        return httpx.Response(200, json=live)
    http = httpx.Client(base_url=state.url, transport=httpx.MockTransport(answer))
    return Client(state, client=http)


def _state(**fields: Any) -> ClientState:
    return ClientState(url="http://blindsum.test", federation_id="f", client_id=1, token="t",
                       identity_key=base64url.encode(bytes(32)),
                       client_dp_terms=[DDG.accounting_terms()] * 10, client_dp_rounds=10,
                       **fields)


@pytest.mark.parametrize("weakened", [{"delta": 0.2}, {"epsilon_budget": 1000.0}])
def test_a_server_that_loosens_delta_or_the_budget_is_refused(weakened) -> None:
    """Adversarial review of issue 12: delta and the budget were read live, so a server could
    raise delta (the same 10 rounds read 10.2 instead of 19.8) or the budget (the client's own
    check then let it overspend) and the pin never noticed."""
    state = _state()
    first = _client(state, FEDERATION)
    honest = first.client_level_epsilon()
    with pytest.raises(BudgetExhaustedError):
        first.transport.run(first._check_client_level_budget(DDG))  # 11 rounds: 21.1 > 20.5
    later = _client(state, dict(FEDERATION, **weakened))
    with pytest.raises(ConfigError, match="changed since this client pinned"):
        later.federation()
    with pytest.raises(ConfigError):
        later.client_level_epsilon()
    assert math.isfinite(honest) and honest > 19


def test_a_pin_from_an_older_sdk_gains_the_new_settings_on_first_sight() -> None:
    old_pin = {k: FEDERATION[k] for k in ("mode", "dropout_rate", "corruption_rate",
                                          "min_clients", "client_dp")}
    state = _state(federation_pin=dict(old_pin))
    assert _client(state, FEDERATION).federation().delta == 1e-5
    assert state.federation_pin == dict(old_pin, delta=1e-5, epsilon_budget=20.5,
                                        custody="local", custodians=0, custodian_threshold=0)
    with pytest.raises(ConfigError, match="delta"):
        _client(state, dict(FEDERATION, delta=1e-3)).federation()
