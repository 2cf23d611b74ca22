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
from blindsum.crypto.ckks.threshold.custodian import (
    CustodianLedger,
    DecryptionRequest,
    SignedUpload,
    decide_and_decrypt,
)
from blindsum.crypto.ckks.threshold.decryption import decode, fuse
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.simulate import simulate_custody
from blindsum.crypto.ckks.wire import decode_upload
from blindsum.crypto.identity import generate_identity_key, identity_public_bytes
from blindsum.crypto.randomness import Csprng
from blindsum.errors import (
    ConfigError,
    InvalidSignatureError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

pytest.importorskip("tenseal")

DIM = 3000
ROUND = b"round-1"
MIN_CLIENTS = 3
ACTIVE = (1, 2)


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
    return params, custody, encryptor, keys, roster, xs, uploads


def _ask(setting, uploads, *, ledger=None, index=1, active=ACTIVE, round_id=ROUND):
    params, custody, _, _, roster, _, _ = setting
    request = DecryptionRequest(round_id, DIM, active, tuple(uploads))
    return decide_and_decrypt(params, custody.shares[index], ledger or CustodianLedger(),
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
    params, _, _, _, _, xs, uploads = setting
    chosen = [uploads[c] for c in (1, 2, 3, 4)]
    partials = {i: _ask(setting, chosen, index=i)[1] for i in ACTIVE}
    got = _fused(setting, chosen, partials)
    assert np.abs(got - sum(xs[c] for c in (1, 2, 3, 4))).max() < 8 * params.value_error


def test_a_single_upload_is_never_partially_decrypted(setting) -> None:
    params, custody, _, _, _, xs, uploads = setting
    target = [uploads[1]]
    naive = custody.partials(_ciphertexts(params, target), ACTIVE)
    assert np.abs(_fused(setting, target, naive) - xs[1]).max() < 1e-4  # the attack, unchecked
    with pytest.raises(ThresholdNotMetError):
        _ask(setting, target)


def test_a_sum_of_fewer_than_min_clients_is_refused(setting) -> None:
    _, _, _, _, _, _, uploads = setting
    with pytest.raises(ThresholdNotMetError):
        _ask(setting, [uploads[1], uploads[2]])


def test_a_ciphertext_the_aggregator_substitutes_is_refused(setting) -> None:
    """The aggregator encrypts zeros under the collective key and passes them off as two
    clients' uploads (keeping their signatures): the sum would then be client 1's input."""
    params, custody, encryptor, _, _, xs, uploads = setting
    zero = encryptor.encrypt(np.zeros(DIM))
    forged = [uploads[1], SignedUpload(2, zero, uploads[2].signature),
              SignedUpload(3, zero, uploads[3].signature)]
    naive = custody.partials(_ciphertexts(params, forged), ACTIVE)
    assert np.abs(_fused(setting, forged, naive) - xs[1]).max() < 1e-4  # the attack, unchecked
    with pytest.raises(InvalidSignatureError):
        _ask(setting, forged)


def test_an_upload_from_another_round_or_an_unknown_client_is_refused(setting) -> None:
    _, _, _, _, _, _, uploads = setting
    with pytest.raises(InvalidSignatureError):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], round_id=b"round-2")
    stranger = SignedUpload(9, uploads[1].upload, uploads[1].signature)
    with pytest.raises(ConfigError, match="roster"):
        _ask(setting, [stranger, uploads[2], uploads[3]])


def test_two_contributor_sets_for_one_round_would_give_a_difference_and_are_refused(
        setting) -> None:
    """Sum of {1, 2, 3, 4} minus sum of {2, 3, 4} is client 1's input: the custodian
    decrypts one set per round, retries of that set included."""
    params, custody, _, _, _, xs, uploads = setting
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


def test_the_ledger_survives_a_restart_and_keeps_refusing(setting) -> None:
    _, _, _, _, _, _, uploads = setting
    ledger, _ = _ask(setting, [uploads[c] for c in (1, 2, 3, 4)])
    restored = CustodianLedger.from_json(ledger.to_json())
    assert restored == ledger
    with pytest.raises(RoundStateError):
        _ask(setting, [uploads[c] for c in (2, 3, 4)], ledger=restored)
    for bad in ("[]", '{"ciphertexts": "1", "rounds": {}}', '{"rounds": {}}'):
        with pytest.raises(ConfigError):
            CustodianLedger.from_json(bad)


def test_a_key_share_refuses_past_its_flooding_budget(setting) -> None:
    _, _, _, _, _, _, uploads = setting
    budget = setting[0].flooding.max_ciphertexts
    assert _ask(setting, [uploads[c] for c in (1, 2, 3)],
                ledger=CustodianLedger(ciphertexts=budget - 1))[0].ciphertexts == budget
    spent = CustodianLedger(ciphertexts=budget)
    with pytest.raises(RoundStateError, match="rotate the key"):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], ledger=spent)


@pytest.mark.parametrize("active", [(2, 3), (1,), (1, 1), (1, 2, 3), (1, 4)])
def test_the_active_set_must_be_t_distinct_custodians_including_this_one(setting,
                                                                          active) -> None:
    _, _, _, _, _, _, uploads = setting
    with pytest.raises(ProtocolError, match="active set"):
        _ask(setting, [uploads[c] for c in (1, 2, 3)], active=active)


def test_a_client_twice_is_refused(setting) -> None:
    _, _, _, _, _, _, uploads = setting
    with pytest.raises(ProtocolError, match="twice"):
        _ask(setting, [uploads[1], uploads[1], uploads[2], uploads[3]])
