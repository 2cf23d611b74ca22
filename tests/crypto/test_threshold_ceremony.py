"""The key ceremony over real custodians, attacked by a custodian colluding with the server.

Attack first: the rogue-key attack and commitment equivocation succeed against the naive
protocol (sum whatever public shares arrive) and fail against the ceremony; the attacker's
goal, decrypting an honest client's upload, is tried each time.
"""

from __future__ import annotations

import numpy as np
import pytest

from blindsum.crypto.ckks.encryptor import CkksEncryptor
from blindsum.crypto.ckks.threshold import keys
from blindsum.crypto.ckks.threshold.ceremony import (
    CustodianEntry,
    CustodianKeygen,
    KeyConfirmation,
    KeyContext,
    KeyReveal,
    assemble_collective_key,
    check_collective_key,
)
from blindsum.crypto.ckks.threshold.decryption import decode, fuse, partial_decryption
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.residues import decode_residues, encode_residues
from blindsum.crypto.ckks.threshold.tenseal_context import public_context
from blindsum.crypto.ckks.wire import decode_upload
from blindsum.crypto.identity import (
    exchange_public_bytes,
    generate_exchange_key,
    generate_identity_key,
    identity_public_bytes,
)
from blindsum.crypto.randomness import Csprng
from blindsum.errors import (
    DecryptionError,
    InvalidShareError,
    InvalidSignatureError,
    MalformedMessageError,
    ProtocolError,
    ThresholdNotMetError,
)

pytest.importorskip("tenseal")

DIM = 2000
PARAMS = ThresholdParams.derive(max_clients=100, max_abs=1.0, custodians=3, threshold=2)


class Custodians:
    """Three custodians' private keys and the public context of one key."""

    def __init__(self, key_id: str = "round-1") -> None:
        self.identity = {i: generate_identity_key() for i in (1, 2, 3)}
        self.exchange = {i: generate_exchange_key() for i in (1, 2, 3)}
        entries = tuple(CustodianEntry(i, identity_public_bytes(self.identity[i]),
                                       exchange_public_bytes(self.exchange[i]))
                        for i in (1, 2, 3))
        self.context = KeyContext("fed-1", key_id, PARAMS, entries)

    def keygen(self, index: int) -> CustodianKeygen:
        return CustodianKeygen(self.context, index, self.identity[index], Csprng())


def _ceremony(custodians: Custodians, taking_part=(1, 2, 3)):
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in taking_part]
    reveals = [runs[i].reveal(commitments) for i in taking_part]
    results = {i: runs[i].confirm(commitments, reveals) for i in taking_part}
    return commitments, reveals, results


def _encrypt(key: keys.CollectiveKey, x: np.ndarray) -> bytes:
    return CkksEncryptor(PARAMS.ckks, public_context(PARAMS.ckks, key.b, key.a)).encrypt(x)


def _decrypt_with(ciphertext: bytes, secret: np.ndarray) -> np.ndarray:
    basis = keys.data_basis(PARAMS.ckks)
    words = decode_upload(ciphertext, PARAMS.ckks, DIM)
    return decode(PARAMS.ckks, basis.add(words[:, 0], basis.mul(words[:, 1], secret)), DIM)


def _threshold_decrypt(ciphertext: bytes, shares, active) -> np.ndarray:
    words = decode_upload(ciphertext, PARAMS.ckks, DIM).reshape(-1, PARAMS.ckks.words_per_chunk)
    partials = {i: partial_decryption(PARAMS, shares[i], active, words, Csprng())
                for i in active}
    return decode(PARAMS.ckks, fuse(PARAMS.ckks, words, partials), DIM)


@pytest.mark.parametrize("taking_part", [(1, 2, 3), (1, 3)])
def test_a_ceremony_gives_one_confirmed_key_that_any_t_decrypt(taking_part) -> None:
    """Any t of the custodians that took part decrypt; custodian 2, offline during
    (1, 3)'s ceremony, holds no share of that key and cannot confirm it."""
    custodians = Custodians()
    commitments, reveals, results = _ceremony(custodians, taking_part)
    key = assemble_collective_key(custodians.context, commitments, reveals)
    assert all(np.array_equal(r[2].b, key.b) for r in results.values())
    check_collective_key(custodians.context, key, [r[0] for r in results.values()])
    x = np.random.default_rng(1).uniform(-1, 1, DIM)
    upload = _encrypt(key, x)
    shares = {i: r[1] for i, r in results.items()}
    if 2 not in taking_part:
        with pytest.raises(ProtocolError, match="holds no share"):
            custodians.keygen(2).confirm(commitments, reveals)
    for active in ([list(p) for p in ((1, 2), (2, 3), (1, 3)) if set(p) <= set(taking_part)]):
        assert np.abs(_threshold_decrypt(upload, shares, active) - x).max() < 1e-5
        one = shares[active[0]]  # one custodian alone, with what the aggregator saw
        basis = keys.data_basis(PARAMS.ckks)
        for guess in (one.point, keys.scaled_by_lagrange(basis, one, active)):
            assert np.abs(_decrypt_with(upload, guess) - x).max() > 1e3


def test_the_rogue_key_attack_works_without_commitments_and_fails_with_them() -> None:
    """Custodian 3, colluding with the server, waits for b_1 and b_2 and publishes
    ``b* - b_1 - b_2`` for a key ``s*`` it made: the sum is its own key's public half."""
    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in (1, 2, 3)]
    honest = [runs[i].reveal(commitments) for i in (1, 2)]
    ckks, key_basis = PARAMS.ckks, keys.key_basis(PARAMS.ckks)
    a = keys.common_random_polynomial(ckks, custodians.context.seed)
    rogue_secret = keys.sample_secret(ckks, Csprng())
    target = keys.public_key_share(ckks, rogue_secret, a, Csprng()).b
    seen = [decode_residues(key_basis, r.public_share) for r in honest]
    rogue_b = key_basis.sub(key_basis.sub(target, seen[0]), seen[1])

    # Naive: sum the public shares that arrived. The attacker decrypts a client's upload.
    naive = keys.collective_public_key(ckks, [keys.PublicKeyShare(s) for s in seen]
                                       + [keys.PublicKeyShare(rogue_b)])
    x = np.random.default_rng(2).uniform(-1, 1, DIM)
    victim = _encrypt(keys.CollectiveKey(ckks, custodians.context.seed, naive), x)
    stolen = _decrypt_with(victim, rogue_secret.secret[: len(ckks.data_primes)])
    assert np.abs(stolen - x).max() < 1e-5

    # The ceremony: the rogue share does not open custodian 3's commitment. Re-signing
    # the reveal (custodian 3 holds its key) does not help; honest custodians refuse to
    # confirm, and without t confirmations no client encrypts under the rogue key.
    honest_reveal = runs[3].reveal(commitments)
    from blindsum.crypto.ckks.threshold import ceremony

    forged_payload = ceremony._reveal_payload(
        custodians.context, 3, encode_residues(key_basis, rogue_b),
        ceremony._list_digest(custodians.context, commitments), honest_reveal.envelopes)
    from blindsum.crypto.hazmat.signing import sign

    rogue = KeyReveal(3, encode_residues(key_basis, rogue_b), honest_reveal.envelopes,
                      sign(custodians.identity[3], forged_payload))
    for i in (1, 2):
        with pytest.raises(ProtocolError, match="does not open its commitment"):
            runs[i].confirm(commitments, [*honest, rogue])
    rogue_key = keys.CollectiveKey(ckks, custodians.context.seed, naive)
    digest = ceremony.key_digest(custodians.context, naive)
    own = KeyConfirmation(3, digest, 0, sign(custodians.identity[3], ceremony._confirm_payload(
        custodians.context, 3, digest, 0)))
    with pytest.raises(ThresholdNotMetError):  # the attacker's own confirmation is not t
        check_collective_key(custodians.context, rogue_key, [own])


def test_a_custodian_that_shows_two_commitments_is_caught() -> None:
    """Custodian 3 commits twice and the server shows each honest custodian a different
    list: an honest custodian refuses reveals made over a list it did not see."""
    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    c1, c2 = runs[1].commit(), runs[2].commit()
    first = runs[3].commit()
    twin = custodians.keygen(3)  # the dishonest custodian runs a second instance
    second = twin.commit()  # a fresh key share: the equivocation
    shown_1, shown_2 = [c1, c2, first], [c1, c2, second]
    r1 = runs[1].reveal(shown_1)
    r2 = runs[2].reveal(shown_2)
    r3 = twin.reveal(shown_2)
    with pytest.raises(InvalidSignatureError):
        runs[1].confirm(shown_1, [r1, r2, r3])


def test_the_server_cannot_forge_a_custodian_nor_a_confirmation() -> None:
    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in (1, 2, 3)]
    forged = type(commitments[1])(2, commitments[1].commitment, commitments[1].exchange_key,
                                  bytes(64))
    with pytest.raises(InvalidSignatureError):
        runs[1].reveal([commitments[0], forged, commitments[2]])
    swapped_key = type(commitments[1])(2, commitments[1].commitment,
                                       commitments[0].exchange_key, commitments[1].signature)
    with pytest.raises(InvalidSignatureError):  # the one-time key is signed too
        runs[1].reveal([commitments[0], swapped_key, commitments[2]])
    with pytest.raises(ProtocolError, match="twice"):
        runs[1].reveal([*commitments, commitments[2]])
    with pytest.raises(ThresholdNotMetError):
        runs[1].reveal(commitments[:1])
    with pytest.raises(ProtocolError, match="own"):
        runs[1].reveal(commitments[1:])
    reveals = [runs[i].reveal(commitments) for i in (1, 2, 3)]
    confirmations = [runs[i].confirm(commitments, reveals)[0] for i in (1, 2, 3)]
    key = assemble_collective_key(custodians.context, commitments, reveals)
    check_collective_key(custodians.context, key, confirmations)
    with pytest.raises(ThresholdNotMetError):
        check_collective_key(custodians.context, key, confirmations[:1])
    server_key = keys.CollectiveKey(PARAMS.ckks, key.seed, keys.key_basis(PARAMS.ckks).add(
        key.b, key.b))
    with pytest.raises(ThresholdNotMetError):
        check_collective_key(custodians.context, server_key, confirmations)
    other = Custodians("round-2").context  # a confirmation of another key does not carry over
    with pytest.raises(ProtocolError):
        check_collective_key(other, key, confirmations)


def test_a_tampered_envelope_or_share_is_refused() -> None:
    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in (1, 2, 3)]
    reveals = [runs[i].reveal(commitments) for i in (1, 2, 3)]
    envelope = bytearray(reveals[1].envelopes[1])
    envelope[-1] ^= 1
    tampered = KeyReveal(2, reveals[1].public_share, {**reveals[1].envelopes, 1: bytes(envelope)},
                         reveals[1].signature)
    with pytest.raises(InvalidSignatureError):  # the envelopes are signed into the reveal
        runs[1].confirm(commitments, [reveals[0], tampered, reveals[2]])
    short = KeyReveal(2, reveals[1].public_share[:-8], reveals[1].envelopes, reveals[1].signature)
    with pytest.raises((InvalidSignatureError, MalformedMessageError, ProtocolError)):
        runs[1].confirm(commitments, [reveals[0], short, reveals[2]])
    with pytest.raises(ProtocolError, match="exactly the committed"):
        runs[1].confirm(commitments, reveals[:2])
    # A dealer that signs an envelope its holder cannot open: the holder refuses the key.
    from blindsum.crypto.ckks.threshold import ceremony
    from blindsum.crypto.hazmat.signing import sign

    garbage = {**reveals[1].envelopes, 1: bytes(envelope)}
    listed = ceremony._list_digest(custodians.context, commitments)
    resigned = KeyReveal(2, reveals[1].public_share, garbage, sign(
        custodians.identity[2], ceremony._reveal_payload(custodians.context, 2,
                                                         reveals[1].public_share, listed,
                                                         garbage)))
    with pytest.raises(InvalidShareError, match="custodian 2's re-share"):
        runs[1].confirm(commitments, [reveals[0], resigned, reveals[2]])


def test_messages_of_one_key_do_not_serve_another() -> None:
    custodians = Custodians("round-1")
    commitments, reveals, _ = _ceremony(custodians)
    again = Custodians("round-2")
    again.identity, again.exchange = custodians.identity, custodians.exchange  # same people
    again.context = KeyContext("fed-1", "round-2", PARAMS, custodians.context.custodians)
    with pytest.raises(InvalidSignatureError):
        assemble_collective_key(again.context, commitments, reveals)


def test_a_key_under_other_parameters_is_not_the_confirmed_key() -> None:
    """Adversarial review: the same b and seed under another scale expand to another a,
    a key nobody confirmed (a client would encrypt to nobody); the check now refuses it."""
    from blindsum.crypto.ckks.params import CkksParams

    custodians = Custodians()
    commitments, reveals, results = _ceremony(custodians)
    key = assemble_collective_key(custodians.context, commitments, reveals)
    ckks = PARAMS.ckks
    other = CkksParams(poly_modulus_degree=ckks.poly_modulus_degree,
                       coeff_mod_bit_sizes=ckks.coeff_mod_bit_sizes,
                       scale_bits=ckks.scale_bits - 1, max_clients=ckks.max_clients,
                       max_abs=ckks.max_abs)
    swapped = keys.CollectiveKey(other, key.seed, key.b)
    assert not np.array_equal(swapped.a, key.a)
    with pytest.raises(ProtocolError):
        check_collective_key(custodians.context, swapped, [r[0] for r in results.values()])


def test_a_custodian_commits_and_reveals_once_per_key_and_only_under_its_own_entry() -> None:
    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in (1, 2, 3)]
    with pytest.raises(ProtocolError, match="once"):
        runs[1].commit()
    runs[1].reveal(commitments)
    with pytest.raises(ProtocolError, match="once"):
        runs[1].reveal(commitments)
    with pytest.raises(ProtocolError, match="own keys"):  # a roster with 2's keys at 1
        CustodianKeygen(custodians.context, 1, custodians.identity[2], Csprng())


def test_after_the_ceremony_nothing_a_custodian_keeps_opens_its_re_shares() -> None:
    """Forward secrecy: custodian 1's long-term identity and exchange keys, with every
    message the aggregator stored, open none of the envelopes dealt to it; while its
    ceremony ran, the one-time key it committed to did (the control)."""
    from blindsum.crypto.ckks.threshold import ceremony
    from blindsum.crypto.hazmat.kex import derive_pair_key, open_envelope

    custodians = Custodians()
    runs = {i: custodians.keygen(i) for i in (1, 2, 3)}
    commitments = [runs[i].commit() for i in (1, 2, 3)]
    reveals = [runs[i].reveal(commitments) for i in (1, 2, 3)]
    committed = {c.index: c for c in commitments}
    envelope = reveals[1].envelopes[1]  # custodian 2's share for custodian 1
    aad = ceremony._reshare_aad(custodians.context, 2, 1)
    control = open_envelope(runs[1]._pair_key(committed, 2, 1), envelope, aad)
    assert len(control) == 8 * 3 * 8192
    runs[1].confirm(commitments, reveals)
    assert runs[1]._exchange is None
    for dealer_key in (committed[2].exchange_key, custodians.context.entry(2).exchange_key):
        guess = derive_pair_key(custodians.exchange[1], dealer_key,
                                purpose=ceremony._RESHARE, context=custodians.context.digest,
                                first=2, second=1)
        with pytest.raises(DecryptionError):
            open_envelope(guess, envelope, aad)


def test_a_key_confirmed_long_ago_or_for_another_round_number_is_refused() -> None:
    """Adversarial review 3: a server re-announced a finished round's key, under a new
    number, to clients (whose secret one crafted upload of that round may have given it).
    The number is in the key's context, and confirmations carry when they were given."""
    custodians = Custodians()
    commitments, reveals, results = _ceremony(custodians)
    key = assemble_collective_key(custodians.context, commitments, reveals)
    confirmations = [r[0] for r in results.values()]
    check_collective_key(custodians.context, key, confirmations, max_age=60)
    later = confirmations[0].confirmed_at + 3600
    with pytest.raises(ThresholdNotMetError, match="recently"):
        check_collective_key(custodians.context, key, confirmations, max_age=60, now=later)
    renumbered = KeyContext(custodians.context.federation_id, custodians.context.key_id, PARAMS,
                            custodians.context.custodians, round_number=2)
    with pytest.raises(ProtocolError):  # another context: another seed, and no signature fits
        check_collective_key(renumbered, key, confirmations)
