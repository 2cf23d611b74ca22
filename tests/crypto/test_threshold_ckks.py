"""Threshold CKKS over the real primitives: TenSEAL clients, custodians' shares, fusion.

Attack first: t - 1 custodians try to decrypt; a crafted upload tries to unlock the key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from blindsum.crypto.ckks.encryptor import CkksEncryptor
from blindsum.crypto.ckks.threshold import keys
from blindsum.crypto.ckks.threshold.decryption import decode, fuse
from blindsum.crypto.ckks.threshold.params import ThresholdParams
from blindsum.crypto.ckks.threshold.simulate import SimulatedCustody, simulate_custody
from blindsum.crypto.ckks.wire import decode_upload, encode_upload

pytest.importorskip("tenseal")

DIM = 5000  # two ciphertexts
CUSTODIANS, THRESHOLD = 3, 2


@dataclass
class Federation:
    custody: SimulatedCustody

    @property
    def params(self) -> ThresholdParams:
        return self.custody.params

    @property
    def ckks(self):
        return self.params.ckks

    @property
    def shares(self):
        return self.custody.shares

    @property
    def secrets(self):
        return self.custody.secrets

    @property
    def context(self) -> bytes:
        return self.custody.public_context()

    def total(self, uploads: list[bytes]) -> np.ndarray:
        basis = keys.data_basis(self.ckks)
        total = None
        for upload in uploads:
            words = decode_upload(upload, self.ckks, DIM).reshape(-1, 2, 3, basis.n)
            total = words if total is None else basis.add(total, words)
        assert total is not None
        return total.reshape(-1, self.ckks.words_per_chunk)

    def decrypt(self, ciphertexts: np.ndarray, active: list[int]) -> np.ndarray:
        return self.custody.decrypt(ciphertexts, active, DIM)


@pytest.fixture(scope="module")
def federation() -> Federation:
    params = ThresholdParams.derive(max_clients=1000, max_abs=1.0, custodians=CUSTODIANS,
                                    threshold=THRESHOLD)
    return Federation(simulate_custody(params))


@pytest.fixture(scope="module")
def round_(federation):
    encryptor = CkksEncryptor(federation.ckks, federation.context)
    xs = [np.random.default_rng(i).uniform(-1, 1, DIM) for i in range(4)]
    return xs, [encryptor.encrypt(x) for x in xs]


@pytest.mark.parametrize("active", [[1, 2], [2, 3], [1, 3], [1, 2, 3]])
def test_any_t_custodians_decrypt_the_sum(federation, round_, active) -> None:
    xs, uploads = round_
    got = federation.decrypt(federation.total(uploads), active)
    error = np.abs(got - np.sum(xs, axis=0))
    assert error.max() < 8 * federation.params.value_error + 1e-9


def test_t_minus_one_custodians_learn_nothing_of_the_sum(federation, round_) -> None:
    """The best t - 1 can do is to combine their own shares: the result is noise."""
    xs, uploads = round_
    expected = np.sum(xs, axis=0)
    for alone in ([1], [2], [3]):
        got = federation.decrypt(federation.total(uploads), alone)
        assert np.abs(got - expected).max() > 1e3  # not the sum, nor near it
        assert abs(np.corrcoef(got, expected)[0, 1]) < 0.1


def test_no_share_alone_nor_any_t_minus_one_of_them_is_the_key(federation, round_) -> None:
    """Try each share, and each share's own additive part, as the secret key itself."""
    xs, uploads = round_
    basis = keys.data_basis(federation.ckks)
    words = decode_upload(uploads[0], federation.ckks, DIM).reshape(-1, 2, 3, basis.n)
    candidates = [s.point for s in federation.shares.values()]
    candidates += [s.secret[:3] for s in federation.secrets]
    for candidate in candidates:
        plain = basis.add(words[:, 0], basis.mul(words[:, 1], candidate))
        assert np.abs(decode(federation.ckks, plain, DIM) - xs[0]).max() > 1e3


def test_the_collective_key_is_the_sum_of_the_custodians_secrets(federation, round_) -> None:
    """Checks the construction (no party computes this sum outside a test)."""
    xs, uploads = round_
    basis = keys.data_basis(federation.ckks)
    s = federation.secrets[0].secret[:3]
    for other in federation.secrets[1:]:
        s = basis.add(s, other.secret[:3])
    words = decode_upload(uploads[1], federation.ckks, DIM).reshape(-1, 2, 3, basis.n)
    plain = basis.add(words[:, 0], basis.mul(words[:, 1], s))
    assert np.abs(decode(federation.ckks, plain, DIM) - xs[1]).max() < 1e-9


def test_known_limit_a_crafted_upload_unlocks_the_key_without_proofs(federation, round_) -> None:
    """Attack (issue 14): a client uploads (0, D) with D a large constant. The fused
    decryption of the sum is then m + D s + noise; rounding its coefficients by D gives
    the collective secret s, which decrypts every stored upload. Flooding cannot hide it
    (it hides noise of honest size only). This test shows the attack working; it turns
    into the defence's test when uploads carry proofs of well-formedness."""
    xs, uploads = round_
    ckks = federation.ckks
    basis = keys.data_basis(ckks)
    big = 2**105
    crafted = np.zeros((2, 2, 3, basis.n), dtype=np.uint64)
    crafted[:, 1] = np.array([big % q for q in basis.primes], dtype=np.uint64)[:, None]
    hostile = encode_upload(ckks, DIM, crafted.reshape(2, -1))
    total = federation.total([*uploads, hostile])
    plaintexts = fuse(ckks, total, federation.custody.partials(total, [1, 2]))
    coefficients = basis.centered_big(basis.intt(plaintexts[:1]))[0]
    recovered = [round(c / big) for c in coefficients]
    s = basis.from_signed(np.array(recovered))
    words = decode_upload(uploads[2], ckks, DIM).reshape(-1, 2, 3, basis.n)
    stolen = decode(ckks, basis.add(words[:, 0], basis.mul(words[:, 1], basis.ntt(s))), DIM)
    assert np.abs(stolen - xs[2]).max() < 1e-6  # the attacker read one client's upload


def test_derived_parameters_are_128_bit_and_meet_the_precision(federation) -> None:
    p = federation.params
    assert sum(p.ckks.coeff_mod_bit_sizes) <= 218  # N = 8192, HE standard
    assert p.packed_bytes_per_float == 57.0
    assert p.value_error < 1e-6
    assert p.flooding.sigma > 2**71


def test_the_flooding_in_a_partial_decryption_has_the_stated_width(federation, round_) -> None:
    """Subtract ``c1 * lambda_i S_i`` (which only a test can) from custodian 1's partial:
    what is left is the flooding, centred, of the width the parameters derive."""
    _, uploads = round_
    ckks = federation.ckks
    basis = keys.data_basis(ckks)
    total = federation.total(uploads)
    partial = federation.custody.partial(1, total, [1, 2])
    c1 = total.reshape(-1, 2, 3, basis.n)[:, 1]
    exact = basis.mul(c1, keys.scaled_by_lagrange(basis, federation.shares[1], [1, 2]))
    noise = basis.centered_float(basis.intt(basis.sub(partial, exact))).ravel()
    sigma = federation.params.flooding.sigma
    assert abs(noise.std() / sigma - 1) < 0.02  # 16k samples: 0.6 % standard error
    assert abs(noise.mean()) / sigma < 0.03
    assert abs(np.mean((noise / noise.std()) ** 4) - 3) < 0.2
