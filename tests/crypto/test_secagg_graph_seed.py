"""The neighbour graph is drawn by the participants: a server that grinds the round seed,
forges or swaps commitments, changes reveals or withholds too many gets no graph of its
choosing, and what it can still choose is exactly the bound the docs state.

Before the seed was drawn jointly the graph was ``neighbour_graph(participants,
round_seed)`` and the server chose ``round_seed``; ``test_grinding_the_round_seed_no_longer
chooses_the_graph`` shows that attack (which found a graph with every colluder next to the
victim in a few hundred tries) now yields a graph unrelated to the ground one.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest

from blindsum.crypto.hazmat.signing import generate_identity_key, sign
from blindsum.crypto.secagg import SecAggClient, SecAggParams, graph_seed
from blindsum.crypto.secagg.graph import neighbour_graph
from blindsum.crypto.secagg.messages import SeedCommitment
from blindsum.crypto.secagg.simulate import SimulatedCohort, new_cohort
from blindsum.crypto.secagg.stages import Stage
from blindsum.errors import InvalidSignatureError, ProtocolError, ThresholdNotMetError

from .secagg_adversary import LyingServer


def test_grinding_the_round_seed_no_longer_chooses_the_graph(seeds) -> None:
    base = new_cohort(30, 16, params=SecAggParams.derive(30, corruption_rate=0.1))
    params = base.context.params
    victim, colluders = 1, set(range(2, 2 + params.max_corrupted))

    def surrounding(seed: bytes) -> int:  # the old rule: the round seed drew the graph
        graph = neighbour_graph(base.context.participants, neighbours=params.neighbours,
                                seed=seed)
        return len(graph[victim] & colluders)

    ground = max((seeds() for _ in range(300)), key=surrounding)
    assert surrounding(ground) == len(colluders)  # the grinding works on the old rule...
    cohort = SimulatedCohort(dataclasses.replace(base.context, round_seed=ground),
                             base.identity_keys)
    drawn = [LyingServer(cohort).relay_adverts().graph for _ in range(3)]
    old = neighbour_graph(cohort.context.participants, neighbours=params.neighbours,
                          seed=ground)
    assert all(graph != old for graph in drawn)  # ...but the clients draw other graphs,
    assert drawn[0] != drawn[1] != drawn[2]  # fresh with every round's reveals


def test_the_server_chooses_among_at_most_the_stated_number_of_graphs() -> None:
    """After seeing every reveal the server may leave out up to max_unrevealed of them: that
    gives sum_{j <= D} C(n, j) seeds (all distinct), and leaving out one more is refused."""
    cohort = new_cohort(8, 16)
    params = cohort.context.params
    server = LyingServer(cohort)
    everyone = cohort.context.participants
    choices = [set(out) for j in range(params.max_unrevealed + 1)
               for out in itertools.combinations(everyone, j)]
    seeds = {server.graph_if(out).graph_seed for out in choices}
    assert len(seeds) == len(choices) == round(2 ** params.graph_choice_bits())
    assert math.isclose(params.graph_choice_bits(), math.log2(sum(
        math.comb(len(everyone), j) for j in range(params.max_unrevealed + 1))))
    with pytest.raises(ThresholdNotMetError, match="did not reveal"):
        server.graph_if(set(everyone[: params.max_unrevealed + 1]))


def _committed_round(cohort: SimulatedCohort):
    roster = cohort.roster
    clients = {u: SecAggClient(cohort.context, client_id=u, identity_key=key, roster=roster,
                               required=cohort.required)
               for u, key in cohort.identity_keys.items()}
    return clients, [cl.commit_seed() for cl in clients.values()]


def test_a_commitment_forged_for_a_silent_participant_is_refused() -> None:
    """The server commits on behalf of participant 8 (silent) to reveal for it later: the
    commitment is not signed by 8's enrolled key, so no client reveals anything."""
    cohort = new_cohort(8, 16)
    clients, commitments = _committed_round(cohort)
    digest = cohort.context.digest
    forged_value = graph_seed.commitment_to(cohort.context, 8, bytes(32))
    forged = SeedCommitment(8, forged_value, sign(generate_identity_key(),
                            SeedCommitment.signed_payload(digest, 8, forged_value)))
    shown = [c for c in commitments if c.sender != 8] + [forged]
    for u in range(1, 8):
        with pytest.raises(InvalidSignatureError):
            clients[u].advertise_keys(shown)
        assert clients[u].stage is Stage.ABORTED


def test_a_commitment_list_from_another_round_is_refused() -> None:
    cohort = new_cohort(8, 16)
    other = SimulatedCohort(dataclasses.replace(cohort.context, round_number=2),
                            cohort.identity_keys)
    clients, _ = _committed_round(cohort)
    _, stale = _committed_round(other)
    with pytest.raises((InvalidSignatureError, ProtocolError)):
        clients[1].advertise_keys(stale)


def test_a_list_without_the_clients_own_commitment_is_refused() -> None:
    cohort = new_cohort(8, 16)
    clients, commitments = _committed_round(cohort)
    with pytest.raises(ProtocolError, match="own"):
        clients[1].advertise_keys([c for c in commitments if c.sender != 1])


def test_a_reveal_changed_after_seeing_the_others_is_refused() -> None:
    """A colluding client (or the server) swaps its reveal once the honest reveals are in:
    it does not open the commitment, so the server and every client refuse it."""
    cohort = new_cohort(8, 16)
    server = LyingServer(cohort)
    adverts = dict(server.out.adverts)
    liar = adverts[2]
    payload = type(liar).signed_payload(cohort.context.digest, server.clients[2]._seen, 2,
                                        liar.cipher_public_key, liar.mask_public_key,
                                        bytes(32))
    adverts[2] = dataclasses.replace(liar, seed_reveal=bytes(32),
                                     signature=sign(cohort.identity_keys[2], payload))
    with pytest.raises(ProtocolError, match="does not open"):
        server.clients[1].share_keys(list(adverts.values()))


def test_clients_shown_different_commitment_lists_cannot_be_joined() -> None:
    """Half the cohort sees every commitment, half sees client 1's left out: adverts are signed
    over different lists, so a client shown an advert from the other half refuses it."""
    cohort = new_cohort(8, 16)
    clients, commitments = _committed_round(cohort)
    full, short = commitments, [c for c in commitments if c.sender != 1]
    adverts = [clients[u].advertise_keys(full if u <= 4 else short) for u in range(1, 9)]
    with pytest.raises(InvalidSignatureError):
        clients[1].share_keys(adverts)


def test_too_few_commitments_are_refused() -> None:
    cohort = new_cohort(8, 16)
    clients, commitments = _committed_round(cohort)
    need = cohort.context.params.min_survivors
    with pytest.raises(ThresholdNotMetError, match="committed"):
        clients[1].advertise_keys(commitments[: need - 1])
