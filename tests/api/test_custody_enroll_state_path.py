"""Adversarial review 3: ``blindsum custodian enroll --state DIR/k.json`` with a directory
that does not exist (a typo) spends the invite and takes a custodian slot, then fails to
save the keys it just generated. The slot's keys are lost: the federation has m slots and
no way to free one, so it is left with a custodian that is offline for good (its whole
m - q liveness margin spent), and the same invite cannot be used again.
Fixed: the state file's location is checked before the invite is spent (clients too).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from blindsum.api.app import create_app
from blindsum.api.settings import Settings
from blindsum.client_sdk import AsyncAdmin, AsyncCustodian

from .custody_helpers import BASE

ADMIN = "review3-admin-" + "e" * 32


def test_an_unwritable_state_path_does_not_spend_the_custodian_invite(tmp_path) -> None:
    async def scenario():
        app = create_app(Settings(data_dir=tmp_path / "data", admin_token=ADMIN,
                                  database_url=f"sqlite:///{tmp_path / 'service.db'}"))
        asgi = httpx.ASGITransport(app=app)
        admin = AsyncAdmin(BASE, ADMIN, transport=asgi)
        fed = await admin.create_federation("t", "ckks", [("w", (8,))], min_clients=3,
                                            max_clients=6, custody="threshold", custodians=4,
                                            custodian_threshold=2)
        code = await admin.invite(fed.id, "k1", "custodian")
        with pytest.raises(Exception):  # noqa: B017 - whatever it raises, nothing is spent
            await AsyncCustodian.enroll(BASE, fed.id, code, transport=asgi,
                                        state_file=tmp_path / "no-such-dir" / "k1.json")
        again = await AsyncCustodian.enroll(BASE, fed.id, code, transport=asgi,
                                            state_file=tmp_path / "k1.json")
        await again.aclose()
        await admin.aclose()
        app.state.engine.dispose()
        return again.index

    assert asyncio.run(scenario()) == 1
