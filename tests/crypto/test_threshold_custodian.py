"""A custodian's decision to partially decrypt, attacked as the aggregator would.

Attack first: each test shows what a custodian that decrypted whatever it was handed
would give away (the naive partials of the simulation: the aggregator reads one
client's upload), then asks the real custodian (:func:`decide_and_decrypt`) the same
and asserts that it refuses and that nothing it did return decrypts the target.
"""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.threshold import keys as keys_module
from blindsum.crypto.ckks.threshold.ceremony import CustodianEntry, KeyContext
from blindsum.crypto.ckks.threshold.custodian import (
    ContributorSet,
    CustodianLedger,
    DecryptionRequest,
    SetVote,
    SignedUpload,
    decide_and_decrypt,
    vote,
)
from blindsum.crypto.ckks.threshold.decryption import decode, fuse
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues, residues_size
from blindsum.crypto.ckks.threshold.simulate import simulate_custody
from blindsum.crypto.ckks.wire import decode_upload, encode_upload
from blindsum.crypto.identity import (
    exchange_public_bytes,
    generate_exchange_key,
    generate_identity_key,
    identity_public_bytes,
)
from blindsum.crypto.randomness import Csprng
from blindsum.errors import (
    ConfigError,
    InvalidSignatureError,
    MalformedMessageError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

pytest.importorskip("tenseal")

DIM = 3000
ROUND = b"round-1"
MIN_CLIENTS = 3
ACTIVE = (1, 2)


def _context(params, round_id=ROUND):
    """A key context for the simulated custodians, with identity keys to vote with."""
    identities = {i: generate_identity_key() for i in range(1, params.custodians + 1)}
    entries = tuple(CustodianEntry(i, identity_public_bytes(k),
                                   exchange_public_bytes(generate_exchange_key()))
                    for i, k in identities.items())
    return KeyContext("fed", round_id.decode(), params, entries), identities


def _votes(context, identities, uploads, voters=None):
    """Every custodian (or ``voters``) votes for this set, each with a fresh ledger."""
    chosen = ContributorSet.of(uploads)
    return tuple(vote(context, CustodianLedger(), i, identities[i], chosen)[1]
                 for i in (voters or identities))


@pytest.fixture(scope="module")
def setting():
    params = ThresholdParams.derive(max_clients=100, max_abs=1.0, custodians=3, threshold=2)
    custody = simulate_custody(params)
    encryptor = CkksEncryptor(params.ckks, custody.public_context())
    keys = {cid: generate_identity_key() for cid in range(1, 6)}
    roster = {cid: identity_public_bytes(k) for cid, k in keys.items()}
    xs = {cid: np.random.default_rng(cid).uniform(-1, 1, DIM) for cid in keys}
    uploads = {}
    for cid, x in xs.items():
        data = encryptor.encrypt(x)
        uploads[cid] = SignedUpload(cid, data, sign_upload(keys[cid], ROUND, cid, data))
    context, identities = _context(params)
    return params, custody, encryptor, keys, roster, xs, uploads, context, identities


def _ask(setting, uploads, *, ledger=None, index=1, active=ACTIVE, round_id=ROUND,
         certificate=None):
    params, custody, _, _, roster, _, _, context, identities = setting
    if round_id != ROUND:
        context, identities = _context(params, round_id)
    if certificate is None:
        certificate = _votes(context, identities, uploads)
    request = DecryptionRequest(DIM, active, tuple(uploads), certificate)
    return decide_and_decrypt(context, custody.shares[index], ledger or CustodianLedger(),
                              request, roster=roster, min_clients=MIN_CLIENTS, rng=Csprng())


def _ciphertexts(params, uploads):
    words = [decode_upload(u.upload, params.ckks, DIM) for u in uploads]
    total = words[0]
    for w in words[1:]:
        total = (total + w) % np.array(params.ckks.data_primes, dtype=np.uint64).reshape(
            1, 1, -1, 1)
    return total.reshape(-1, params.ckks.words_per_chunk)


def _fused(setting, uploads, partials):
    params = setting[0]
    ciphertexts = _ciphertexts(params, uploads)
    return decode(params.ckks, fuse(params.ckks, ciphertexts, partials), DIM)


def test_t_custodians_that_agree_decrypt_the_round_sum(setting) -> None:
    params, _, _, _, _, xs, uploads, _, _ = setting
    chosen = [uploads[c] for c in (1, 2, 3, 4)]
    partials = {i: _ask(setting, chosen, index=i)[1] for i in ACTIVE}
    got = _fused(setting, chosen, partials)
    assert np.abs(got - sum(xs[c] for c in (1, 2, 3, 4))).max() < 8 * params.value_error


def test_a_single_upload_is_never_partially_decrypted(setting) -> None:
    params, custody, _, _, _, xs, uploads, _, _ = setting
    target = [uploads[1]]
    naive = custody.partials(_ciphertexts(params, target), ACTIVE)
    assert np.abs(_fused(setting, target, naive) - xs[1]).max() < 1e-4  # the attack, unchecked
    with pytest.raises(ThresholdNotMetError):
        _ask(setting, target)


def test_a_sum_of_fewer_than_min_clients_is_refused(setting) -> None:
    uploads = setting[6]
    with pytest.raises(ThresholdNotMetError):
        _ask(setting, [uploads[1], uploads[2]])


def test_a_ciphertext_the_aggregator_substitutes_is_refused(setting) -> None:
    """The aggregator encrypts zeros under the collective key and passes them off as two
    clients' uploads (keeping their signatures): the sum would then be client 1's input."""
    params, custody, encryptor, _, _, xs, uploads, _, _ = setting
    zero = encryptor.encrypt(np.zeros(DIM))
    forged = [uploads[1], SignedUpload(2, zero, uploads[2].signature),
              SignedUpload(3, zero, uploads[3].signature)]
    naive = custody.partials(_ciphertexts(params, forged), ACTIVE)
    assert np.abs(_fused(setting, forged, naive) - xs[1]).max() < 1e-4  # the attack, unchecked
    with pytest.raises(InvalidSignatureError):
        _ask(setting, forged)


def test_an_upload_from_another_round_or_an_unknown_client_is_refused(setting) -> None:
    uploads = setting[6]
    with pytest.raises(InvalidSignatureError):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], round_id=b"round-2")
    stranger = SignedUpload(9, uploads[1].upload, uploads[1].signature)
    with pytest.raises(ConfigError, match="roster"):
        _ask(setting, [stranger, uploads[2], uploads[3]])


def test_two_contributor_sets_for_one_round_would_give_a_difference_and_are_refused(
        setting) -> None:
    """Sum of {1, 2, 3, 4} minus sum of {2, 3, 4} is client 1's input: the custodian
    decrypts one set per round, retries of that set included."""
    params, custody, _, _, _, xs, uploads, _, _ = setting
    first = [uploads[c] for c in (1, 2, 3, 4)]
    second = [uploads[c] for c in (2, 3, 4)]
    naive_difference = (_fused(setting, first, custody.partials(_ciphertexts(params, first),
                                                                 ACTIVE))
                        - _fused(setting, second, custody.partials(_ciphertexts(params, second),
                                                                   ACTIVE)))
    assert np.abs(naive_difference - xs[1]).max() < 1e-4  # the attack, unchecked
    ledgers = {}
    partials = {}
    for i in ACTIVE:
        ledgers[i], partials[i] = _ask(setting, first, index=i)
    for i in ACTIVE:
        with pytest.raises(RoundStateError, match="another set"):
            _ask(setting, second, index=i, ledger=ledgers[i])
    retry, _ = _ask(setting, list(reversed(first)), index=1, ledger=ledgers[1])  # same set
    assert retry.rounds == ledgers[1].rounds
    assert retry.ciphertexts == 2 * ledgers[1].ciphertexts  # a retry still spends budget


@pytest.mark.parametrize(("custodians", "group_a", "group_b", "colluders"), [
    (3, (1, 3), (2, 3), {3}),    # t - 1 = 1 colluding custodian
    (4, (1, 2), (3, 4), set()),  # no colluder, but m >= 2t: two disjoint groups
])
def test_two_groups_of_custodians_cannot_each_decrypt_one_of_two_sets(
        custodians, group_a, group_b, colluders) -> None:
    """Adversarial review: a custodian's own memory is not enough. The aggregator takes
    {victim, 2, 3, 4} to one group and {2, 3, 4} to another; each custodian sees one set.
    Without agreement the difference is the victim's input (shown first, with custodians
    that check everything but the certificate); with it, the second set never gathers
    the q votes a custodian needs, so its sum is never decrypted."""
    params = ThresholdParams.derive(max_clients=100, max_abs=1.0, custodians=custodians,
                                    threshold=2)
    assert params.set_quorum == 3
    custody = simulate_custody(params)
    context, identities = _context(params)
    encryptor = CkksEncryptor(params.ckks, custody.public_context())
    keys = {cid: generate_identity_key() for cid in (1, 2, 3, 4)}
    roster = {cid: identity_public_bytes(k) for cid, k in keys.items()}
    xs = {cid: np.random.default_rng(100 + cid).uniform(-1, 1, DIM) for cid in keys}
    uploads = {}
    for cid, x in xs.items():
        data = encryptor.encrypt(x)
        uploads[cid] = SignedUpload(cid, data, sign_upload(keys[cid], ROUND, cid, data))
    set_a = [uploads[c] for c in (1, 2, 3, 4)]
    set_b = [uploads[c] for c in (2, 3, 4)]

    def fused(members, group, certificate):
        request = DecryptionRequest(DIM, group, tuple(members), certificate)
        cts = _ciphertexts(params, members)
        partials = {}
        for i in group:
            if i in colluders:  # the attacker holds this share and skips every check
                partials[i] = custody.partial(i, cts, group)
            else:
                ledgers[i], partials[i] = decide_and_decrypt(
                    context, custody.shares[i], ledgers[i], request, roster=roster,
                    min_clients=MIN_CLIENTS, rng=Csprng())
        return decode(params.ckks, fuse(params.ckks, cts, partials), DIM)

    # Without agreement (every honest custodian's own memory only): the attack works.
    ledgers = {i: CustodianLedger() for i in identities}
    everyone = tuple(identities)
    stolen = (fused(set_a, group_a, _votes(context, identities, set_a, everyone))
              - fused(set_b, group_b, _votes(context, identities, set_b, everyone)))
    assert np.abs(stolen - xs[1]).max() < 1e-4

    # With agreement: each honest custodian votes once, for the set it is shown first;
    # colluders vote for both. Whichever way the aggregator splits the honest custodians,
    # at most one set gathers q votes, and the other is never decrypted.
    honest = [i for i in identities if i not in colluders]
    for shown_b in ([], [i for i in group_b if i in honest], honest):
        ledgers = {i: CustodianLedger() for i in identities}
        votes: dict[str, list[SetVote]] = {"a": [], "b": []}
        for i in identities:
            for name, members in (("a", set_a), ("b", set_b)):
                wanted = i in colluders or (name == "b") == (i in shown_b)
                if wanted:
                    ledger = CustodianLedger() if i in colluders else ledgers[i]
                    ledgers[i], v = vote(context, ledger, i, identities[i],
                                         ContributorSet.of(members))
                    votes[name].append(v)
        for i in honest:  # an honest custodian never votes for the other set
            other = set_a if i in shown_b else set_b
            with pytest.raises(RoundStateError, match="another set"):
                vote(context, ledgers[i], i, identities[i], ContributorSet.of(other))
        certified = [n for n in votes if len({v.index for v in votes[n]}) >= params.set_quorum]
        assert len(certified) <= 1
        for name, members, group in (("a", set_a, group_a), ("b", set_b, group_b)):
            if name in certified:
                continue
            for i in group:
                if i in colluders:
                    continue
                with pytest.raises((ThresholdNotMetError, RoundStateError)):
                    decide_and_decrypt(context, custody.shares[i], ledgers[i],
                                       DecryptionRequest(DIM, group, tuple(members),
                                                         tuple(votes[name])),
                                       roster=roster, min_clients=MIN_CLIENTS, rng=Csprng())
        if certified == ["a"]:  # the honest round still decrypts
            with_victim = fused(set_a, group_a, tuple(votes["a"]))
            assert np.abs(with_victim - sum(xs.values())).max() < 1e-4


def test_the_ledger_survives_a_restart_and_keeps_refusing(setting) -> None:
    uploads = setting[6]
    ledger, _ = _ask(setting, [uploads[c] for c in (1, 2, 3, 4)])
    restored = CustodianLedger.from_json(ledger.to_json())
    assert restored == ledger
    with pytest.raises(RoundStateError):
        _ask(setting, [uploads[c] for c in (2, 3, 4)], ledger=restored)
    for bad in ("[]", '{"ciphertexts": "1", "rounds": {}}', '{"rounds": {}}'):
        with pytest.raises(ConfigError):
            CustodianLedger.from_json(bad)


def test_a_key_share_refuses_past_its_flooding_budget(setting) -> None:
    uploads = setting[6]
    budget = setting[0].flooding.max_ciphertexts
    assert _ask(setting, [uploads[c] for c in (1, 2, 3)],
                ledger=CustodianLedger(ciphertexts=budget - 1))[0].ciphertexts == budget
    spent = CustodianLedger(ciphertexts=budget)
    with pytest.raises(RoundStateError, match="rotate the key"):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], ledger=spent)


@pytest.mark.parametrize("active", [(2, 3), (1,), (1, 1), (1, 2, 3), (1, 4)])
def test_the_active_set_must_be_t_distinct_custodians_including_this_one(setting,
                                                                          active) -> None:
    uploads = setting[6]
    with pytest.raises(ProtocolError, match="active set"):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], active=active)


def test_a_client_twice_is_refused(setting) -> None:
    uploads = setting[6]
    with pytest.raises(ProtocolError, match="twice"):
        _ask(setting, [uploads[1], uploads[1], uploads[2], uploads[3]])


def test_hostile_request_fields_are_refused_as_project_errors(setting) -> None:
    """Adversarial review: these raised OverflowError, ValueError or MemoryError (a 500)
    or were decrypted outright (more uploads than the flooding was sized for)."""
    uploads = setting[6]
    for cid in (2**32, -1, 0):
        stranger = SignedUpload(cid, uploads[1].upload, uploads[1].signature)
        with pytest.raises(MalformedMessageError):
            _ask(setting, [stranger, uploads[2], uploads[3]])
    _, custody, _, _, roster, _, _, context, identities = setting
    chosen = (uploads[1], uploads[2], uploads[3])
    with pytest.raises(ConfigError, match="dimension"):
        decide_and_decrypt(context, custody.shares[1], CustodianLedger(),
                           DecryptionRequest(2**50, ACTIVE, chosen,
                                             _votes(context, identities, chosen)),
                           roster=roster, min_clients=MIN_CLIENTS, rng=Csprng())
    small = ThresholdParams.derive(max_clients=3, max_abs=1.0, custodians=3, threshold=2)
    small_context = KeyContext("fed", ROUND.decode(), small, context.custodians)
    four = (*chosen, uploads[4])
    with pytest.raises(ProtocolError, match="flooding"):
        decide_and_decrypt(small_context, custody.shares[1], CustodianLedger(),
                           DecryptionRequest(DIM, ACTIVE, four,
                                             _votes(small_context, identities, four)),
                           roster=roster, min_clients=MIN_CLIENTS, rng=Csprng())


@pytest.mark.parametrize("text", ["{", '{"ciphertexts": ' + "9" * 5000 + ', "rounds": {}}',
                                  '{"ciphertexts": -1000000, "rounds": {}}',
                                  '{"ciphertexts": true, "rounds": {}}',
                                  '{"ciphertexts": 1, "rounds": {"x": "y"}}'])
def test_a_corrupt_ledger_is_refused_never_read_as_a_fresh_budget(text) -> None:
    with pytest.raises(ConfigError):
        CustodianLedger.from_json(text)


def test_residues_with_zero_rows_are_a_malformed_message() -> None:
    params = ThresholdParams.derive(max_clients=3, max_abs=1.0, custodians=3, threshold=2)
    basis = keys_module.data_basis(params.ckks)
    with pytest.raises(MalformedMessageError):
        decode_residues(basis, bytes(residues_size(basis, 1)), 0)


def test_known_limit_one_colluding_client_cancels_the_other_uploads() -> None:
    """Adversarial review (open, with the crafted-c1 attack of test_threshold_ckks): CKKS
    ciphertexts are malleable, so one roster client colluding with the aggregator uploads
    minus the sum of the other honest uploads but the victim's. The sum of min_clients
    signed uploads is then the victim's ciphertext, and custodians decrypt it through
    every check. Proofs that each client knows its upload's plaintext and randomness are
    the defence (docs/threat-model.md); this test turns into it when they exist."""
    params = ThresholdParams.derive(max_clients=100, max_abs=1.0, custodians=3, threshold=2)
    custody = simulate_custody(params)
    context, identities = _context(params)
    encryptor = CkksEncryptor(params.ckks, custody.public_context())
    ids = {cid: generate_identity_key() for cid in range(1, 6)}
    roster = {cid: identity_public_bytes(k) for cid, k in ids.items()}
    xs = {cid: np.random.default_rng(200 + cid).uniform(-1, 1, DIM) for cid in (1, 2, 3, 4)}
    uploads = {}
    for cid, x in xs.items():
        data = encryptor.encrypt(x)
        uploads[cid] = SignedUpload(cid, data, sign_upload(ids[cid], ROUND, cid, data))
    q = np.array(params.ckks.data_primes, dtype=np.uint64).reshape(1, 1, -1, 1)
    others = np.zeros_like(decode_upload(uploads[2].upload, params.ckks, DIM))
    for cid in (2, 3, 4):
        others = (others + decode_upload(uploads[cid].upload, params.ckks, DIM)) % q
    negated = np.where(others == 0, others, q - others)
    forged = encode_upload(params.ckks, DIM, negated.reshape(-1, params.ckks.words_per_chunk))
    uploads[5] = SignedUpload(5, forged, sign_upload(ids[5], ROUND, 5, forged))
    members = tuple(uploads[c] for c in range(1, 6))
    request = DecryptionRequest(DIM, ACTIVE, members, _votes(context, identities, members))
    partials = {i: decide_and_decrypt(context, custody.shares[i], CustodianLedger(), request,
                                      roster=roster, min_clients=5, rng=Csprng())[1]
                for i in ACTIVE}
    published = _fused((params,), members, partials)
    assert np.abs(published - xs[1]).max() < 1e-4  # the "sum" is the victim's input
