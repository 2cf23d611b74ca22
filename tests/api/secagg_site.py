"""A site's SecAggClient driven over the REST API (in-process ASGI or real HTTP)."""

from __future__ import annotations

import base64

import numpy as np

from blindsum.client_sdk.secagg_driver import required_params
from blindsum.crypto.secagg import wire
from blindsum.crypto.secagg.client import SecAggClient
from blindsum.crypto.secagg.context import RoundContext


class SecAggSite:
    """One enrolled site: its SecAggClient driven over the API."""

    def __init__(self, api, fid: str, member, round_json: dict, roster: dict[int, bytes]):
        self.api, self.fid = api, fid
        self.id, token, key = member
        self.headers = {"Authorization": f"Bearer {token}"}
        self.round = round_json
        context = RoundContext.from_protocol(
            federation=fid, round_number=round_json["number"],
            round_seed=base64.urlsafe_b64decode(round_json["round_seed"] + "=="),
            participants=round_json["participants"], protocol=round_json["protocol"])
        federation = api.get(f"/v1/federations/{fid}", headers=self.headers).json()
        required = required_params(federation, len(round_json["participants"]))
        self.machine = SecAggClient(context, client_id=self.id, identity_key=key, roster=roster,
                                    required=required)

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
        self.post("commit-seed", wire.commitment_to_json(self.machine.commit_seed()))

    def advertise(self) -> None:
        commitments = wire.commitments_from_json(self.relay("commit-seed"), limit=100)
        self.post("advertise-keys", wire.advert_to_json(self.machine.advertise_keys(commitments)))

    def share(self) -> None:
        adverts = wire.adverts_from_json(self.relay("advertise-keys"), limit=100)
        self.post("share-keys", wire.envelopes_to_json(self.machine.share_keys(adverts)))

    def check(self) -> None:
        envelopes = wire.envelopes_from_json(self.relay("share-keys"), limit=100,
                                             threshold=self.machine.context.params.threshold)
        accusations = self.machine.check_shares(envelopes)
        self.accused = list(accusations.accused)
        self.post("check-shares", wire.accusations_to_json(accusations))

    def mask(self, x: np.ndarray) -> None:
        exclusions = wire.exclusions_from_json(self.relay("check-shares"), limit=100)
        masked = self.machine.mask_update(exclusions, x)
        self.masked_bytes = masked.vector.astype("<u4").tobytes()
        self.resend_masked()

    def resend_masked(self) -> bool:
        """PUT the masked input (again); returns whether the server stored it anew."""
        response = self.api.put(self.url("secagg/masked-input"), content=self.masked_bytes,
                                headers=self.headers)
        assert response.status_code == 202, response.text
        return bool(response.json()["stored"])

    def sign(self) -> None:
        survivors = wire.survivors_from_json(self.relay("masked-input"))
        self.post("consistency-check",
                  wire.signature_to_json(self.machine.consistency_check(survivors)))

    def unmask(self) -> None:
        sigs = [wire.signature_from_json(s) for s in self.relay("consistency-check")]
        self.post("unmask", wire.unmask_to_json(self.machine.unmask(sigs)))


def round_sites(api, fid: str, members, round_json: dict) -> list[SecAggSite]:
    """A SecAggSite for each member, with the federation's roster as the first one sees it."""
    headers = {"Authorization": f"Bearer {members[0][1]}"}
    roster = {c["client_id"]: base64.urlsafe_b64decode(c["identity_key"] + "=")
              for c in api.get(f"/v1/federations/{fid}/roster", headers=headers).json()}
    return [SecAggSite(api, fid, m, round_json, roster) for m in members]
