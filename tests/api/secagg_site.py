"""A site driven over the in-process API by the SDK's own SecAgg+ flows (no second driver).

:class:`SecAggSite` runs :class:`~blindsum.client_sdk.secagg_driver.SecAggRound`'s flows
through the tests' ASGI client, one step at a time, so tests can stop, repeat or
interleave steps; ``relay`` and ``post`` let a test send what no honest client would.
"""

from __future__ import annotations

import numpy as np

from blindsum.client_sdk.flows import Call, Flow, Reply, run
from blindsum.client_sdk.secagg_driver import SecAggRound
from blindsum.client_sdk.transport import raise_for_problem
from blindsum.crypto import base64url
from blindsum.wire import FederationPublic, RoundPublic


class SecAggSite:
    """One enrolled site: the SDK's SecAggRound, its flows run over the test client."""

    def __init__(self, api, fid: str, member, round_json: dict, roster: dict[int, bytes]):
        self.api, self.fid = api, fid
        self.id, token, key = member
        self.headers = {"Authorization": f"Bearer {token}"}
        federation = FederationPublic.model_validate(
            api.get(f"/v1/federations/{fid}", headers=self.headers).json())
        self.flows = SecAggRound(fid, RoundPublic.model_validate(round_json), client_id=self.id,
                                 identity_key=key, roster=roster, federation=federation)
        self.machine = self.flows.machine
        self.round = round_json
        self.masked_bytes = b""

    def _send(self, call: Call) -> Reply:
        response = self.api.request(call.method, call.path, json=call.json,
                                    content=call.content, params=dict(call.params) or None,
                                    headers={**self.headers, **call.headers})
        raise_for_problem(response)
        return Reply(response.status_code, response.content, dict(response.headers))

    def _run(self, flow: Flow):
        return run(flow, self._send)

    def url(self, tail: str) -> str:
        return f"/v1/federations/{self.fid}/rounds/{self.round['id']}/{tail}"

    def relay(self, stage: str):
        response = self.api.get(self.url(f"secagg/{stage}/relay"), headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, stage: str, payload) -> None:
        response = self.api.post(self.url(f"secagg/{stage}"), json=payload, headers=self.headers)
        assert response.status_code == 202, response.text

    def commit(self) -> None:
        self._run(self.flows.commit())

    def advertise(self) -> None:
        self._run(self.flows.advertise())

    def share(self) -> None:
        self._run(self.flows.share())

    def check(self) -> None:
        self._run(self.flows.check())
        self.accused = list(self.flows.accused)

    def mask(self, x: np.ndarray) -> None:
        self.masked_bytes = self._run(self.flows.masked_bytes(x))
        self.resend_masked()

    def resend_masked(self) -> bool:
        """PUT the masked input (again); returns whether the server stored it anew."""
        return bool(self._run(self.flows.upload(self.masked_bytes)))

    def sign(self) -> None:
        self._run(self.flows.sign())

    def unmask(self) -> None:
        self._run(self.flows.unmask())


def round_sites(api, fid: str, members, round_json: dict) -> list[SecAggSite]:
    """A SecAggSite for each member, with the federation's roster as the first one sees it."""
    headers = {"Authorization": f"Bearer {members[0][1]}"}
    roster = {c["client_id"]: base64url.decode(c["identity_key"], size=32)
              for c in api.get(f"/v1/federations/{fid}/roster", headers=headers).json()}
    return [SecAggSite(api, fid, m, round_json, roster) for m in members]
