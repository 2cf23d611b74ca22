"""A lying server, seen from the clients: every lie ends in a clean protocol error.

The tests drive the real state machines stage by stage (``stepwise_round``) and
tamper with what the server relays.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from blindsum.crypto.hazmat import kex
from blindsum.crypto.hazmat.signing import generate_identity_key, sign
from blindsum.crypto.secagg import SecAggParams, graph_seed
from blindsum.crypto.secagg.keys import random_mask_secret
from blindsum.crypto.secagg.messages import Exclusions, KeyAdvert, SurvivorSet
from blindsum.crypto.secagg.simulate import new_cohort
from blindsum.crypto.secagg.stages import Stage
from blindsum.errors import (
    InvalidSignatureError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)


def _forge(advert: KeyAdvert, **changes: bytes) -> KeyAdvert:
    return dataclasses.replace(advert, **changes)


def _swap(adverts: tuple[KeyAdvert, ...], forged: KeyAdvert) -> list[KeyAdvert]:
    """The relayed adverts with the one from ``forged.sender`` replaced."""
    return [forged if a.sender == forged.sender else a for a in adverts]


def test_tampered_advert_key_is_rejected(stepwise_round) -> None:
    r = stepwise_round()
    adverts = r.advertise()
    victim = r.clients[1]
    other = adverts[1]
    bad = _swap(adverts, _forge(other, mask_public_key=kex.public_bytes(
        kex.generate_private_key())))
    with pytest.raises(InvalidSignatureError):
        victim.share_keys(bad)
    assert victim.stage is Stage.ABORTED
    with pytest.raises(RoundStateError):
        victim.share_keys(adverts)


def test_advert_replayed_from_another_round_is_rejected(stepwise_round) -> None:
    r, other = stepwise_round(), stepwise_round()
    adverts = r.advertise()
    stale = other.advertise()[1]  # the same client's advert, honestly signed, another round
    with pytest.raises(InvalidSignatureError):
        r.clients[1].share_keys(_swap(adverts, stale))


def test_advert_signed_by_an_impostor_is_rejected(stepwise_round) -> None:
    r = stepwise_round()
    adverts = r.advertise()
    a = adverts[1]
    payload = a.payload(r.cohort.context.digest, r.clients[1]._seen)
    impostor = _forge(a, signature=sign(generate_identity_key(), payload))
    with pytest.raises(InvalidSignatureError):
        r.clients[1].share_keys(_swap(adverts, impostor))


def test_reflected_own_keys_are_rejected(stepwise_round) -> None:
    """A server relaying a client's own keys back as a neighbour's (reflection attack; the
    neighbour colludes and signs them)."""
    r = stepwise_round()
    victim = r.clients[1]
    adverts = r.advertise()
    own, other = adverts[0], adverts[1]
    payload = KeyAdvert.signed_payload(r.cohort.context.digest, victim._seen, other.sender,
                                       own.cipher_public_key, own.mask_public_key,
                                       other.seed_reveal)
    reflected = KeyAdvert(other.sender, own.cipher_public_key, own.mask_public_key,
                          other.seed_reveal, sign(r.cohort.identity_keys[other.sender], payload))
    with pytest.raises(ProtocolError, match="distinct"):
        victim.share_keys(_swap(adverts, reflected))


def test_withheld_adverts_cost_no_client_a_neighbour(stepwise_round) -> None:
    """The graph joins the revealers only: however the server picks the (at most
    max_unrevealed) adverts it withholds, client 1 shares with k advertising neighbours."""
    params = SecAggParams(num_clients=12, neighbours=4, threshold=3, min_survivors=4)
    r = stepwise_round(cohort=new_cohort(12, 16, params=params))
    commitments = r.commit()
    adverts = [cl.advertise_keys(commitments) for cl in r.clients.values()]
    seen, committed = r.clients[1]._seen, {c.sender: c.commitment for c in commitments}
    rng = np.random.default_rng(0)
    for _ in range(50):
        withheld = set(rng.choice(range(2, 13), params.max_unrevealed, replace=False).tolist())
        shown = [a for a in adverts if a.sender not in withheld]
        graph = graph_seed.seeded_context(r.cohort.context, seen, committed, shown).graph
        degree = min(params.neighbours, len(shown) - 1)
        assert len(graph[1]) == degree and not graph[1] & withheld
    envelopes = r.clients[1].share_keys(shown)
    assert {e.recipient for e in envelopes} == graph[1]


def test_more_withheld_reveals_than_tolerated_abort_the_client(stepwise_round) -> None:
    r = stepwise_round()
    commitments = r.commit()
    adverts = [cl.advertise_keys(commitments) for cl in r.clients.values()]
    limit = r.cohort.context.params.max_unrevealed
    with pytest.raises(ThresholdNotMetError, match="did not reveal"):
        r.clients[1].share_keys(adverts[: len(adverts) - limit - 1])


def test_tampered_envelope_is_not_used_and_its_sender_accused(stepwise_round) -> None:
    """A flipped bit fails AES-GCM: the recipient holds no share of that sender and names it,
    so the server counts one share holder fewer instead of the round failing (whoever
    flipped the bit)."""
    r = stepwise_round()
    inbox = r.share()
    env = inbox[1][0]
    flipped = env.ciphertext[:20] + bytes([env.ciphertext[20] ^ 1]) + env.ciphertext[21:]
    accusations = r.clients[1].check_shares(
        [dataclasses.replace(env, ciphertext=flipped), *inbox[1][1:]])
    assert accusations.accused == (env.sender,)
    assert env.sender not in r.clients[1]._held
    assert r.clients[1].stage is Stage.MASKED_INPUT


def test_envelope_rerouted_to_another_recipient_is_not_used(stepwise_round) -> None:
    r = stepwise_round()
    inbox = r.share()
    env = next(e for e in inbox[2] if e.sender != 1)
    rerouted = dataclasses.replace(env, recipient=1)  # meant for client 2
    others = [e for e in inbox[1] if e.sender != env.sender]
    assert r.clients[1].check_shares([rerouted, *others]).accused == (env.sender,)


def test_shares_off_the_committed_polynomial_are_not_used(stepwise_round) -> None:
    """An envelope that opens but whose shares lie off its sender's commitments (another
    polynomial's commitments relayed with it) counts as a failed envelope."""
    r = stepwise_round()
    inbox = r.share()
    env, other = inbox[1][0], inbox[1][1]
    swapped = dataclasses.replace(env, self_mask_commitments=other.self_mask_commitments)
    assert r.clients[1].check_shares([swapped, *inbox[1][1:]]).accused == (env.sender,)


def test_shares_of_another_key_than_the_advertised_one_are_not_used(stepwise_round) -> None:
    """An envelope whose shares lie on their commitments but commit to another mask secret
    than the sender's advertised key (a dealer sharing another key) is caught on receipt."""
    r = stepwise_round()
    commitments = r.commit()
    adverts = [cl.advertise_keys(commitments) for cl in r.clients.values()]
    r.clients[2]._mask_secret = random_mask_secret()  # shares of another key than advertised
    to_one = [e for cl in r.clients.values() for e in cl.share_keys(adverts) if e.recipient == 1]
    assert r.clients[1].check_shares(to_one).accused == (2,)


def test_a_client_still_masks_with_a_neighbour_whose_envelope_failed(stepwise_round) -> None:
    """Masks follow the envelopes that arrived, usable or not (less the excluded), so one
    failed envelope costs the sender one share holder and nothing else: the survivor set may
    keep it."""
    r = stepwise_round()
    inbox = r.share()
    env = inbox[1][0]
    flipped = dataclasses.replace(env, ciphertext=bytes(len(env.ciphertext)))
    assert r.clients[1].check_shares([flipped, *inbox[1][1:]]).accused == (env.sender,)
    r.clients[1].mask_encoded(Exclusions(), r.inputs[1])
    assert env.sender in r.clients[1]._masked_with
    everyone = SurvivorSet(tuple(r.ctx.participants), ())
    assert r.clients[1].consistency_check(everyone).sender == 1


def test_overlapping_survivor_and_dropped_lists_are_rejected(stepwise_round) -> None:
    r = stepwise_round()
    s = r.mask()
    lie = SurvivorSet(s.survivors, (s.survivors[-1],))
    with pytest.raises(ProtocolError, match="overlap"):
        r.clients[1].consistency_check(lie)


def test_hiding_a_survivor_as_dropped_is_rejected(stepwise_round) -> None:
    """Claiming a neighbour dropped although it sent input would expose its mask key."""
    r = stepwise_round()
    s = r.mask()
    victim = next(v for v in s.survivors if v != 1 and v in r.ctx.graph[1])
    lie = SurvivorSet(tuple(u for u in s.survivors if u != victim), (victim,))
    signature = r.clients[1].consistency_check(lie)  # 1 cannot tell: victim shared keys
    assert signature.sender == 1
    # ...but victim itself refuses, and so do enough others to stop the server:
    with pytest.raises(ProtocolError, match="omits this client"):
        r.clients[victim].consistency_check(lie)


def test_omitting_a_neighbour_that_shared_keys_is_rejected(stepwise_round) -> None:
    r = stepwise_round()
    s = r.mask()
    neighbour = next(v for v in s.survivors if v != 1 and v in r.ctx.graph[1])
    lie = SurvivorSet(tuple(u for u in s.survivors if u != neighbour), ())
    with pytest.raises(ProtocolError, match="contradict"):
        r.clients[1].consistency_check(lie)


def test_different_survivor_sets_for_different_clients_are_caught(stepwise_round) -> None:
    """The server shows one group set A and another set B: signatures do not verify."""
    r = stepwise_round(n=8)
    s = r.mask()
    a = s
    dropped_one = s.survivors[-1]
    b = SurvivorSet(tuple(u for u in s.survivors if u != dropped_one), (dropped_one,))
    sigs_a = [r.clients[u].consistency_check(a) for u in s.survivors[:4]]
    sigs_b = [r.clients[u].consistency_check(b) for u in s.survivors[4:-1]]
    # Client 1 signed A; the server hands it B's signatures.
    with pytest.raises(InvalidSignatureError):
        r.clients[1].unmask(sigs_b)
    assert r.clients[1].stage is Stage.ABORTED
    assert sigs_a  # group A signed honestly


def test_signatures_from_non_survivors_or_repeated_are_rejected(stepwise_round) -> None:
    r = stepwise_round()
    sigs = r.sign()
    with pytest.raises(ProtocolError):
        r.clients[1].unmask([sigs[0], sigs[0], *sigs[1:]])


def test_too_few_signatures_stop_the_unmask(stepwise_round) -> None:
    r = stepwise_round()
    sigs = r.sign()
    t = r.ctx.params.threshold
    with pytest.raises(ThresholdNotMetError):
        r.clients[1].unmask(sigs[: t - 1])


def test_a_client_reveals_only_once(stepwise_round) -> None:
    r = stepwise_round()
    sigs = r.sign()
    first = r.clients[1].unmask(sigs)
    assert first.self_mask_shares and not first.mask_key_shares
    with pytest.raises(RoundStateError):
        r.clients[1].unmask(sigs)


def test_partitioned_server_never_gets_both_secrets_of_a_client(stepwise_round) -> None:
    """A server shows half the cohort the truth and half a lie ("1 dropped").

    Every honest client signs once and reveals once; whatever the split, the
    server never collects t shares of both of client 1's secrets.
    """
    r = stepwise_round(n=8)
    s = r.mask(skip=(8,))  # 8 dropped honestly; everyone else survived
    target = 1
    lie = SurvivorSet(tuple(u for u in s.survivors if u != target),
                      tuple(sorted((*s.dropped, target))))
    t = r.ctx.params.threshold
    others = [u for u in s.survivors if u != target]
    for split in range(len(others) + 1):
        r2 = r.fresh()
        r2.mask(skip=(8,))
        groups = ((others[:split], lie), ([target, *others[split:]], s))
        b_count = k_count = 0
        for members, shown in groups:
            sigs = [r2.clients[u].consistency_check(shown) for u in members]
            for u in members:
                try:
                    revealed = r2.clients[u].unmask(sigs)
                except (ProtocolError, InvalidSignatureError):
                    continue
                b_count += target in revealed.self_mask_shares
                k_count += target in revealed.mask_key_shares
        assert not (b_count >= t and k_count >= t), split
