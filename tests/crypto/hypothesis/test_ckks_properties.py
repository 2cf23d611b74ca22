"""Properties of CKKS mode: decrypt(sum of encryptions) is the sum, within precision."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
from blindsum.crypto.ckks.custody import LocalKeyCustody
from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes

PARAMS = CkksParams()
KEYS = {u: generate_identity_key() for u in range(1, 9)}
ROSTER = {u: identity_public_bytes(k) for u, k in KEYS.items()}


@pytest.fixture(scope="module")
def setup() -> tuple[LocalKeyCustody, CkksEncryptor]:
    custody = LocalKeyCustody.generate(PARAMS)
    return custody, CkksEncryptor(PARAMS, custody.public_context())


def _sum(custody, encryptor, vectors: list[np.ndarray], dim: int):
    acc = EncryptedSumAccumulator(PARAMS, dim, round_id=b"prop")
    for u, x in enumerate(vectors, start=1):
        data = encryptor.encrypt(x)
        acc.add(data, client_id=u, signature=sign_upload(KEYS[u], b"prop", u, data))
    acc.close()
    return custody.decrypt_sum(acc, min_clients=3, roster=ROSTER)


@given(n=st.integers(3, 8), dim=st.integers(1, 4500), seed=st.integers(0, 2**32 - 1))
def test_decrypted_sum_matches_plain_sum(setup, n, dim, seed) -> None:
    custody, encryptor = setup
    rng = np.random.default_rng(seed)
    vectors = [rng.uniform(-1, 1, dim) for _ in range(n)]
    total = _sum(custody, encryptor, vectors, dim)
    assert np.max(np.abs(total - np.sum(vectors, axis=0))) < 1e-6


@given(value=st.floats(-1, 1, allow_nan=False))
def test_constant_vectors_round_trip(setup, value) -> None:
    custody, encryptor = setup
    total = _sum(custody, encryptor, [np.full(10, value)] * 3, 10)
    np.testing.assert_allclose(total, 3 * value, atol=1e-7)


def test_thousand_client_sum_keeps_relative_error_below_1e6() -> None:
    """The issue's precision target, at the preset for 1000 clients (one ciphertext each)."""
    params = CkksParams.for_clients(1000)
    custody = LocalKeyCustody.generate(params)
    encryptor = CkksEncryptor(params, custody.public_context())
    rng = np.random.default_rng(0)
    dim = params.slots
    acc = EncryptedSumAccumulator(params, dim, round_id=b"k")
    exact = np.zeros(dim)
    roster = {}
    for u in range(1, 1001):
        key = generate_identity_key()
        roster[u] = identity_public_bytes(key)
        x = rng.uniform(0, 1, dim)  # same-sign values: the sum grows to ~500
        exact += x
        data = encryptor.encrypt(x)
        acc.add(data, client_id=u, signature=sign_upload(key, b"k", u, data))
    acc.close()
    total = custody.decrypt_sum(acc, min_clients=1000, roster=roster)
    assert np.max(np.abs(total - exact)) / np.max(np.abs(exact)) <= 1e-6
