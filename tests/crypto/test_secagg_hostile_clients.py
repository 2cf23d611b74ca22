"""Hostile clients, seen from the server: refused, and the round's state is unchanged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from blindsum.crypto.hazmat import shamir
from blindsum.crypto.hazmat.feldman import GROUP_ORDER
from blindsum.crypto.hazmat.signing import sign
from blindsum.crypto.secagg import SecAggParams
from blindsum.crypto.secagg.keys import random_mask_secret
from blindsum.crypto.secagg.messages import Accusations, KeyAdvert, MaskedInput, UnmaskShares
from blindsum.crypto.secagg.stages import Stage
from blindsum.errors import (
    BlindsumError,
    InvalidSignatureError,
    MalformedMessageError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)


def _forge(advert: KeyAdvert, **changes: bytes) -> KeyAdvert:
    return dataclasses.replace(advert, **changes)


def test_server_rejects_forged_advert_and_keeps_state(stepwise_round) -> None:
    r = stepwise_round()
    honest = r.clients[1].advertise_keys(r.commit())
    forged = _forge(honest, signature=bytes(64))
    with pytest.raises(InvalidSignatureError):
        r.server.receive_advert(forged)
    r.server.receive_advert(honest)  # the round carries on
    assert r.server.stage is Stage.ADVERTISE_KEYS


def test_server_rejects_wrong_length_input_and_keeps_the_sum(stepwise_round) -> None:
    r = stepwise_round()
    exclusions = r.check()
    before = r.server._total.copy()
    with pytest.raises(ProtocolError):
        r.server.receive_masked_input(MaskedInput(1, np.zeros(3, dtype=np.uint32)))
    with pytest.raises(ProtocolError):
        r.server.receive_masked_input(MaskedInput(1, np.zeros(16, dtype=np.uint64)))
    np.testing.assert_array_equal(r.server._total, before)
    masked = r.clients[1].mask_encoded(exclusions, r.inputs[1])
    r.server.receive_masked_input(masked)
    with pytest.raises(RoundStateError):
        r.server.receive_masked_input(masked)  # counted once only


def test_server_rejects_input_from_a_client_that_shared_no_keys(stepwise_round) -> None:
    r = stepwise_round()
    r.share()
    with pytest.raises(ProtocolError):
        r.server.receive_masked_input(MaskedInput(99, np.zeros(16, dtype=np.uint32)))


def test_server_rejects_out_of_stage_messages(stepwise_round) -> None:
    r = stepwise_round()
    advert = r.clients[1].advertise_keys(r.commit())
    r.server.receive_advert(advert)
    with pytest.raises(RoundStateError):
        r.server.receive_masked_input(MaskedInput(1, np.zeros(16, dtype=np.uint32)))
    with pytest.raises(RoundStateError):
        r.clients[1].unmask(())


def test_server_rejects_envelopes_not_covering_all_neighbours(stepwise_round) -> None:
    r = stepwise_round()
    adverts = r.advertise()
    envs = r.clients[1].share_keys(adverts)
    with pytest.raises(ProtocolError):
        r.server.receive_shares(1, envs[1:])
    with pytest.raises(ProtocolError):
        r.server.receive_shares(2, envs)  # someone else's envelopes


def test_unmask_message_can_never_reveal_both_secrets() -> None:
    with pytest.raises(MalformedMessageError):
        UnmaskShares(1, self_mask_shares={2: 5}, mask_key_shares={2: 7})


def test_server_rejects_shares_it_did_not_ask_for(stepwise_round) -> None:
    r = stepwise_round()
    sigs = r.sign(skip=(8,))
    honest = r.clients[1].unmask(sigs)
    # Asking for survivor 3's mask key instead of its self-mask share.
    b_shares = {v: y for v, y in honest.self_mask_shares.items() if v != 3}
    greedy = UnmaskShares(1, self_mask_shares=b_shares,
                          mask_key_shares={**honest.mask_key_shares, 3: 1})
    with pytest.raises(ProtocolError):
        r.server.receive_unmask(greedy)


def test_a_corrupted_self_mask_share_names_its_holder_and_the_sum_stays_exact(
        stepwise_round, modular_sum) -> None:
    """Issue 11: one client sending a corrupted share at unmask used to abort every round."""
    r = stepwise_round(n=8)
    sigs = r.sign()
    owner, liar = 2, next(u for u in r.ctx.graph[2])
    for u, cl in r.clients.items():
        revealed = cl.unmask(sigs)
        if u == liar:
            shares = dict(revealed.self_mask_shares)
            shares[owner] = (shares[owner] + 1) % shamir.PRIME
            revealed = dataclasses.replace(revealed, self_mask_shares=shares)
        r.server.receive_unmask(revealed)
    result = r.server.finalize()
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, r.ctx.participants))
    assert set(r.server.offenders) == {liar}
    assert "committed polynomial" in r.server.offenders[liar]


def test_forged_mask_key_shares_for_a_dropped_client_are_caught(stepwise_round,
                                                                 modular_sum) -> None:
    """Shares of another key for dropped client 8 lie off 8's commitments: dropped, named,
    and the honest shares still remove 8's masks."""
    r = stepwise_round(n=8)
    sigs = r.sign(skip=(8,))
    signers = sorted(r.server._signatures)
    forger = next(u for u in signers if 8 in r.clients[u]._held)
    fake = shamir.split(shamir.random_secret(), threshold=r.ctx.params.threshold, xs=signers)
    for u in signers:
        revealed = r.clients[u].unmask(sigs)
        if u == forger:
            revealed = dataclasses.replace(revealed, mask_key_shares={8: fake[u]})
        r.server.receive_unmask(revealed)
    result = r.server.finalize()
    survivors = tuple(u for u in r.ctx.participants if u != 8)
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivors))
    assert set(r.server.offenders) == {forger}


def test_an_unmask_message_naming_the_wrong_survivors_is_refused(stepwise_round) -> None:
    r = stepwise_round(n=8)
    sigs = r.sign(skip=(8,))
    revealed = r.clients[1].unmask(sigs)
    moved = next(iter(revealed.self_mask_shares))
    wrong = dataclasses.replace(
        revealed, self_mask_shares={k: v for k, v in revealed.self_mask_shares.items()
                                    if k != moved},
        mask_key_shares={**revealed.mask_key_shares, moved: 1})
    with pytest.raises(ProtocolError):
        r.server.receive_unmask(wrong)
    r.server.receive_unmask(revealed)  # the honest one is still accepted


def test_garbage_envelopes_exclude_their_sender_and_the_round_finishes(stepwise_round,
                                                                      modular_sum) -> None:
    """Issue 11: right-sized garbage envelopes used to make every neighbour fail."""
    r = stepwise_round(n=10)
    adverts = r.advertise()
    hostile = 3
    for u, cl in r.clients.items():
        envelopes = cl.share_keys(adverts)
        if u == hostile:
            envelopes = tuple(dataclasses.replace(e, ciphertext=bytes(len(e.ciphertext)))
                              for e in envelopes)
        r.server.receive_shares(u, envelopes)
    inbox = r.server.close_share_keys()
    accusations = [cl.check_shares(inbox[u]) for u, cl in r.clients.items()]
    assert all(hostile in a.accused for a in accusations if a.sender in r.ctx.graph[hostile])
    for a in accusations:
        r.server.receive_accusations(a)
    exclusions = r.server.close_check_shares()
    assert exclusions.excluded == (hostile,)  # out before anyone masks with it
    with pytest.raises(ProtocolError, match="excluded"):  # its own machine knows it is out
        r.clients[hostile].mask_encoded(exclusions, r.inputs[hostile])
    honest = [u for u in r.clients if u != hostile]
    with pytest.raises(ProtocolError, match="excluded"):  # and the server refuses its input
        r.server.receive_masked_input(MaskedInput(hostile, r.inputs[hostile]))
    for m in r.masked(exclusions, honest):
        r.server.receive_masked_input(m)
    survivor_set = r.server.close_masked_input()
    assert hostile not in survivor_set.survivors + survivor_set.dropped
    for u in survivor_set.survivors:
        r.server.receive_consistency(r.clients[u].consistency_check(survivor_set))
    sigs = r.server.close_consistency()
    for u in survivor_set.survivors:
        r.server.receive_unmask(r.clients[u].unmask(sigs))
    result = r.server.finalize()
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))
    assert hostile in r.server.offenders


def test_one_hostile_accuser_excludes_nobody_and_the_sum_stays_exact(stepwise_round,
                                                                     modular_sum) -> None:
    """A client that accuses every neighbour it can (all but t) only costs each of them one
    share holder; an accuser that names more is itself refused and named."""
    r = stepwise_round(n=10)
    inbox = r.share()
    accuser, t = 4, r.ctx.params.threshold
    accusations = [cl.check_shares(inbox[u]) for u, cl in r.clients.items()]
    too_many = Accusations(accuser, tuple(sorted(inbox_senders(inbox, accuser))))
    with pytest.raises(ProtocolError, match="accuses this many"):
        r.server.check_accusations(too_many)
    most = tuple(sorted(inbox_senders(inbox, accuser))[: len(inbox[accuser]) - t])
    for a in accusations:
        r.server.receive_accusations(Accusations(accuser, most) if a.sender == accuser else a)
    exclusions = r.server.close_check_shares()
    assert exclusions.excluded == ()
    for m in r.masked(exclusions, r.clients):
        r.server.receive_masked_input(m)
    survivor_set = r.server.close_masked_input()
    assert survivor_set.survivors == r.ctx.participants
    for u in survivor_set.survivors:
        r.server.receive_consistency(r.clients[u].consistency_check(survivor_set))
    sigs = r.server.close_consistency()
    for u in survivor_set.survivors:
        revealed = r.clients[u].unmask(sigs)
        if u == accuser:  # it claimed to hold none of the accused's shares
            revealed = dataclasses.replace(revealed, self_mask_shares={
                v: y for v, y in revealed.self_mask_shares.items() if v not in most})
        r.server.receive_unmask(revealed)
    result = r.server.finalize()
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, r.ctx.participants))
    assert r.server.offenders == {}


def inbox_senders(inbox, u: int) -> list[int]:
    return [e.sender for e in inbox[u]]


def test_server_aborts_when_survivors_disconnect_the_graph(stepwise_round) -> None:
    params = SecAggParams(num_clients=12, neighbours=4, threshold=3, min_survivors=3)
    r = stepwise_round(n=12, params=params)
    exclusions = r.check()
    # Drop two opposite pairs on the ring: the ring splits into two arcs.
    ring = r.ctx.ring
    cut = (ring[0], ring[1], ring[6], ring[7])
    with pytest.raises(ThresholdNotMetError, match="connected"):
        r.mask(skip=cut, exclusions=exclusions)


def test_reprs_carry_no_secrets(stepwise_round) -> None:
    r = stepwise_round()
    sigs = r.sign()
    revealed = r.clients[1].unmask(sigs)
    value = next(iter(revealed.self_mask_shares.values()))
    assert str(value) not in repr(revealed)
    masked = MaskedInput(1, np.arange(16, dtype=np.uint32) + 123456)
    assert "123456" not in repr(masked)


def test_a_dealer_cannot_frame_an_honest_holder(stepwise_round, monkeypatch,
                                                modular_sum) -> None:
    """A dealer hands one holder a mask-key share off its committed polynomial, then drops:
    the holder caught it on receipt and never reveals it, so it is not the one named, and
    the dealer's key is rebuilt from its other holders."""
    r = stepwise_round(n=8)
    adverts = r.advertise()
    dealer = 2
    holder = sorted(r.ctx.graph[dealer])[0]
    honest_split = shamir.split_verifiable
    calls = []

    def lying_split(secret, *, threshold, xs):
        shares, points = honest_split(secret, threshold=threshold, xs=xs)
        calls.append(1)
        if len(calls) == 2:  # the dealer's mask-key polynomial
            shares[holder] = (shares[holder] + 1) % shamir.PRIME
        return shares, points

    for u, cl in r.clients.items():
        monkeypatch.setattr(shamir, "split_verifiable", lying_split if u == dealer
                            else honest_split)
        r.server.receive_shares(u, cl.share_keys(adverts))
    monkeypatch.setattr(shamir, "split_verifiable", honest_split)
    inbox = r.server.close_share_keys()
    accusations = {u: cl.check_shares(inbox[u]) for u, cl in r.clients.items()}
    assert accusations[holder].accused == (dealer,)
    for a in accusations.values():
        r.server.receive_accusations(a)
    exclusions = r.server.close_check_shares()
    assert exclusions.excluded == ()
    # the dealer drops before its masked input
    survivor_set, result = r.finish(r.masked(exclusions, [u for u in r.clients if u != dealer]))
    assert dealer in survivor_set.dropped
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))
    assert holder not in r.server.offenders


@pytest.mark.parametrize("keys", ["the same key twice", "a low-order mask key",
                                  "a low-order cipher key", "another client's keys"])
def test_an_advert_with_unusable_keys_is_refused_and_the_round_finishes(
        stepwise_round, modular_sum, keys) -> None:
    """Found by the adversarial review: one signed advert with equal or low-order keys made
    every honest neighbour leave the round. The server now refuses it, as if its sender had
    dropped before advertising."""
    r = stepwise_round(n=8)
    hostile = 1
    commitments = r.commit()
    adverts = {u: cl.advertise_keys(commitments) for u, cl in r.clients.items()}
    mine = adverts[hostile]
    cipher, mask = {
        "the same key twice": (mine.cipher_public_key, mine.cipher_public_key),
        "a low-order mask key": (mine.cipher_public_key, bytes(32)),
        "a low-order cipher key": ((1).to_bytes(32, "little"), mine.mask_public_key),
        "another client's keys": (adverts[2].cipher_public_key, adverts[2].mask_public_key),
    }[keys]
    payload = KeyAdvert.signed_payload(r.ctx.digest, r.clients[hostile]._seen, hostile, cipher,
                                       mask, mine.seed_reveal)
    bad = KeyAdvert(hostile, cipher, mask, mine.seed_reveal,
                    sign(r.cohort.identity_keys[hostile], payload))
    for u in sorted(adverts, key=lambda u: u == hostile):  # the hostile one arrives last
        if u == hostile:
            with pytest.raises(BlindsumError):
                r.server.receive_advert(bad)
        else:
            r.server.receive_advert(adverts[u])
    relayed = r.server.close_advertise_keys()
    honest = [u for u in r.ctx.participants if u != hostile]
    for u in honest:
        r.server.receive_shares(u, r.clients[u].share_keys(relayed))
    exclusions = r.accuse(r.server.close_share_keys(), tuple(honest))
    _, result = r.finish(r.masked(exclusions, honest))
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, tuple(honest)))


def test_a_dealer_sharing_another_key_than_it_advertised_is_named(stepwise_round,
                                                                  modular_sum) -> None:
    """Its shares open their commitments but commit to another secret than its advertised key:
    every holder catches that on receipt, so it is excluded before anyone masks with it, and
    it is the one named. (This dealer, then dropping, used to force the pair-seed fallback,
    which one more dropout during unmask turned into an abort.)"""
    r = stepwise_round(n=8)
    dealer = 3
    commitments = r.commit()
    for cl in r.clients.values():
        r.server.receive_advert(cl.advertise_keys(commitments))
    r.clients[dealer]._mask_secret = random_mask_secret()  # shares of another key
    relayed = r.server.close_advertise_keys()
    for u, cl in r.clients.items():
        r.server.receive_shares(u, cl.share_keys(relayed))
    exclusions = r.accuse(r.server.close_share_keys())
    assert exclusions.excluded == (dealer,)
    honest = [u for u in r.clients if u != dealer]
    survivor_set, result = r.finish(r.masked(exclusions, honest))
    assert dealer not in survivor_set.survivors + survivor_set.dropped
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))
    assert set(r.server.offenders) == {dealer}


@pytest.mark.parametrize("lie", ["garbage envelopes", "another key"])
def test_a_hostile_dealer_and_an_ordinary_dropout_at_unmask_still_give_the_exact_sum(
        stepwise_round, modular_sum, lie) -> None:
    """The adversarial review's open case: a dealer whose key cannot be rebuilt drops, and one
    survivor that masked with it drops during unmask. That aborted 14 of 25 rounds at n = 20
    (5% unmask dropout) while survivors still masked with such a dealer; now the dealer is
    excluded before anyone masks, so there is no mask of it left to remove."""
    r = stepwise_round(n=20)
    dealer = 5
    adverts = r.advertise()
    if lie == "another key":
        r.clients[dealer]._mask_secret = random_mask_secret()
    for u, cl in r.clients.items():
        envelopes = cl.share_keys(adverts)
        if u == dealer and lie == "garbage envelopes":
            envelopes = tuple(dataclasses.replace(e, ciphertext=bytes(len(e.ciphertext)))
                              for e in envelopes)
        r.server.receive_shares(u, envelopes)
    exclusions = r.accuse(r.server.close_share_keys())
    assert exclusions.excluded == (dealer,)
    honest = [u for u in r.clients if u != dealer]
    gone = min(r.ctx.graph[dealer])  # a neighbour of the dealer drops during unmask
    survivor_set, result = r.finish(r.masked(exclusions, honest), silent_at_unmask=(gone,))
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))
    assert set(r.server.offenders) == {dealer}


def test_a_dealer_sharing_the_negated_key_is_still_unmasked(stepwise_round, modular_sum) -> None:
    """Found by the adversarial review: ``l - s`` passes every holder's key check (a point and
    its negation share their Montgomery coordinate) but has no clamped X25519 form, so when
    the dealer dropped the server could not rebuild its key and one more dropout at unmask
    aborted the round (10 of 10). The server now derives pair secrets without clamping."""
    r = stepwise_round(n=20)
    dealer = 5
    adverts = r.advertise()
    negated = GROUP_ORDER - int.from_bytes(r.clients[dealer]._mask_secret, "big")
    r.clients[dealer]._mask_secret = negated.to_bytes(32, "big")  # masks with its real key
    for u, cl in r.clients.items():
        r.server.receive_shares(u, cl.share_keys(adverts))
    exclusions = r.accuse(r.server.close_share_keys())
    assert exclusions.excluded == ()  # the holders cannot tell, and need not
    maskers = [u for u in r.clients if u != dealer]  # the dealer drops before its input
    gone = min(r.ctx.graph[dealer])  # and one of its neighbours drops during unmask
    survivor_set, result = r.finish(r.masked(exclusions, maskers), silent_at_unmask=(gone,))
    assert dealer in survivor_set.dropped
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))


def test_a_client_left_short_by_silent_holders_is_excluded_without_blame(stepwise_round,
                                                                         modular_sum) -> None:
    """Found by the adversarial review: holders that are silent or excluded still counted, so
    a client with exactly t usable holders, one of them silent, was kept and its self mask
    could not be removed at unmask. Holders are now counted among the clients still in, until
    nothing changes; the client is excluded before masking, not blamed, and the round closes."""
    r = stepwise_round(n=10)  # the complete graph: k = 9, t = 5
    victim, t = 1, r.ctx.params.threshold
    inbox = r.share()
    accusers = (2, 3, 4, 5)  # 9 - 5 = 4 neighbours say the victim's envelopes failed
    silent = 6  # one of the victim's other holders goes silent at check-shares
    for u, cl in r.clients.items():
        accusations = cl.check_shares(inbox[u])
        if u in accusers:
            accusations = Accusations(u, (victim,))
        if u != silent:
            r.server.receive_accusations(accusations)
    exclusions = r.server.close_check_shares()
    assert exclusions.excluded == (victim, silent)
    assert victim not in r.server.offenders  # t of its neighbours could use it: no blame
    assert len([u for u in r.ctx.graph[victim] if u not in accusers]) == t
    survivor_set, result = r.finish(r.masked(exclusions, [u for u in r.clients
                                                          if u not in exclusions.excluded]))
    np.testing.assert_array_equal(result.total, modular_sum(r.inputs, survivor_set.survivors))
