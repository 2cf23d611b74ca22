"""Hostile clients through the real service, on both databases: a corrupted share at unmask,
right-sized garbage envelopes, an unmask message naming the wrong survivors, a seed reveal that
does not open its commitment. Each round still
closes with the honest clients' exact sum, and the offender is recorded on the round."""

from __future__ import annotations

import dataclasses

import numpy as np

from blindsum.crypto.hazmat import shamir
from blindsum.crypto.hazmat.signing import sign
from blindsum.crypto.secagg import wire
from blindsum.crypto.secagg.messages import ENVELOPE_BYTES

from .conftest import FEDERATION, b64
from .secagg_site import round_sites

N, DIM = 7, 24
SPEC = dict(FEDERATION, parameters=[{"name": "b", "shape": [DIM]}], max_clients=N)


def _round(api, admin, enroll):
    fid = api.post("/v1/federations", json=SPEC, headers=admin).json()["id"]
    members = [enroll(fid) for _ in range(N)]
    round_json = api.post(f"/v1/federations/{fid}/rounds", headers=admin).json()
    sites = round_sites(api, fid, members, round_json)
    xs = {s.id: np.random.default_rng(s.id).uniform(-0.1, 0.1, DIM) for s in sites}
    return fid, round_json["id"], sites, xs


def _final(api, admin, fid, rid):
    final = api.get(f"/v1/federations/{fid}/rounds/{rid}", headers=admin).json()
    total = np.frombuffer(api.get(f"/v1/federations/{fid}/rounds/{rid}/result/sum",
                                  headers=admin).content, dtype="<f8")
    return final, total


def _exact(total, xs, contributors, sites) -> None:
    codec = sites[0].machine.context.codec
    expected = np.sum([xs[c] for c in contributors], axis=0)
    assert np.max(np.abs(total - expected)) <= len(contributors) / float(codec.scale)


def test_a_corrupted_share_is_dropped_its_holder_named_and_the_sum_exact(api, admin,
                                                                         enroll) -> None:
    fid, rid, sites, xs = _round(api, admin, enroll)
    for step in ("commit", "advertise", "share", "check"):
        for s in sites:
            getattr(s, step)()
    for s in sites:
        s.mask(xs[s.id])
    for s in sites:
        s.sign()
    liar = sites[0]
    certificate = [wire.signature_from_json(x) for x in liar.relay("consistency-check")]
    body = wire.unmask_to_json(liar.machine.unmask(certificate))
    owner = next(iter(body["self_mask_shares"]))
    body["self_mask_shares"][owner] = hex((int(body["self_mask_shares"][owner], 16) + 1)
                                          % shamir.PRIME)
    liar.post("unmask", body)
    for s in sites[1:]:
        s.unmask()
    final, total = _final(api, admin, fid, rid)
    assert final["stage"] == "closed", final["abort_reason"]
    assert set(final["contributors"]) == {s.id for s in sites}
    _exact(total, xs, final["contributors"], sites)
    assert set(final["offenders"]) == {str(liar.id)}
    assert "committed polynomial" in final["offenders"][str(liar.id)]


def test_garbage_envelopes_exclude_their_sender_and_the_round_closes(api, admin,
                                                                    enroll) -> None:
    fid, rid, sites, xs = _round(api, admin, enroll)
    for s in sites:
        s.commit()
    for s in sites:
        s.advertise()
    hostile = sites[2]
    for s in sites:
        if s is hostile:
            adverts = [wire.advert_from_json(a) for a in s.relay("advertise-keys")]
            envelopes = wire.envelopes_to_json(s.machine.share_keys(adverts))
            for e in envelopes:  # right-sized, well-formed, and garbage
                e["ciphertext"] = b64(bytes(ENVELOPE_BYTES))
            s.post("share-keys", envelopes)
        else:
            s.share()
    for s in sites:
        s.check()
    assert all(hostile.id in s.accused for s in sites if s is not hostile)
    excluded = wire.exclusions_from_json(sites[0].relay("check-shares"), limit=N).excluded
    assert excluded == (hostile.id,)  # out before anyone masks: nobody masks with it
    honest = [s for s in sites if s is not hostile]
    for s in honest:
        s.mask(xs[s.id])
    survivors = wire.survivors_from_json(sites[0].relay("masked-input"))
    assert hostile.id not in survivors.survivors + survivors.dropped
    for s in honest:
        s.sign()
    for s in honest:
        s.unmask()
    final, total = _final(api, admin, fid, rid)
    assert final["stage"] == "closed", final["abort_reason"]
    assert set(final["contributors"]) == {s.id for s in honest}
    _exact(total, xs, final["contributors"], sites)
    assert str(hostile.id) in final["offenders"]
    refused = api.post(hostile.url("secagg/consistency-check"), json={"sender": hostile.id,
                       "signature": "A" * 86}, headers=hostile.headers)
    assert refused.status_code >= 400


def test_an_unmask_message_naming_the_wrong_survivors_is_refused(api, admin, enroll) -> None:
    fid, rid, sites, xs = _round(api, admin, enroll)
    for step in ("commit", "advertise", "share", "check"):
        for s in sites:
            getattr(s, step)()
    for s in sites[:-1]:
        s.mask(xs[s.id])
    api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin)  # the last one dropped
    survivors = sites[:-1]
    for s in survivors:
        s.sign()
    hostile = survivors[0]
    certificate = [wire.signature_from_json(x) for x in hostile.relay("consistency-check")]
    body = wire.unmask_to_json(hostile.machine.unmask(certificate))
    moved = next(iter(body["self_mask_shares"]))
    body["mask_key_shares"][moved] = body["self_mask_shares"].pop(moved)  # "it dropped"
    response = api.post(hostile.url("secagg/unmask"), json=body, headers=hostile.headers)
    assert response.status_code == 409, response.text
    assert "cover exactly" in response.json()["detail"]
    for s in survivors[1:]:
        s.unmask()
    api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin)  # its deadline passes
    final, total = _final(api, admin, fid, rid)
    assert final["stage"] == "closed", final["abort_reason"]
    assert set(final["contributors"]) == {s.id for s in survivors}
    _exact(total, xs, final["contributors"], sites)


def test_a_reveal_that_does_not_open_its_commitment_is_refused(api, admin, enroll) -> None:
    """A client that changes its graph-seed share after seeing the others' is refused at once;
    the round draws the graph without it and closes with the honest clients' exact sum."""
    fid, rid, sites, xs = _round(api, admin, enroll)
    for s in sites:
        s.commit()
    hostile, honest = sites[0], sites[1:]
    commitments = wire.commitments_from_json(hostile.relay("commit-seed"), limit=N)
    advert = hostile.machine.advertise_keys(commitments)
    payload = advert.signed_payload(hostile.machine.context.digest, hostile.machine._seen,
                                    advert.sender, advert.cipher_public_key,
                                    advert.mask_public_key, bytes(32))
    forged = dataclasses.replace(advert, seed_reveal=bytes(32),
                                 signature=sign(hostile.machine._identity_key, payload))
    response = api.post(hostile.url("secagg/advertise-keys"), json=wire.advert_to_json(forged),
                        headers=hostile.headers)
    assert response.status_code == 409, response.text
    assert "does not open" in response.json()["detail"]
    for s in honest:
        s.advertise()
    api.post(f"/v1/federations/{fid}/rounds/{rid}/close", headers=admin)  # its deadline passes
    relayed = hostile.relay("advertise-keys")
    assert hostile.id not in {a["sender"] for a in relayed}
    for step in ("share", "check", "mask", "sign", "unmask"):
        for s in honest:
            if step == "mask":
                s.mask(xs[s.id])
            else:
                getattr(s, step)()
    final, total = _final(api, admin, fid, rid)
    assert final["stage"] == "closed", final["abort_reason"]
    assert set(final["contributors"]) == {s.id for s in honest}
    _exact(total, xs, final["contributors"], sites)
