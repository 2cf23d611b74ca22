"""The RNS ring arithmetic threshold CKKS rests on: exact, and SEAL's own NTT."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.ckks.params import CkksParams, seal_primes
from blindsum.crypto.ckks.seal_bytes import (
    CiphertextLayout,
    _unwrap_seal,
    coefficients_from_vector_bytes,
)
from blindsum.crypto.ckks.threshold.decryption import decode
from blindsum.crypto.hazmat.rns import MAX_PRIME_BITS, RnsBasis, mulmod

SMALL = RnsBasis(16, seal_primes(16, (30, 40, 50)))


def _negacyclic(a: list[int], b: list[int], q: int) -> list[int]:
    n = len(a)
    out = [0] * n
    for i in range(n):
        for j in range(n):
            k, sign = (i + j, 1) if i + j < n else (i + j - n, -1)
            out[k] = (out[k] + sign * a[i] * b[j]) % q
    return out


@given(st.lists(st.integers(0, 2**MAX_PRIME_BITS - 1), min_size=2, max_size=2),
       st.sampled_from(SMALL.primes))
def test_mulmod_is_exact_for_any_residues(pair: list[int], q: int) -> None:
    a, b = (x % q for x in pair)
    got = mulmod(np.array([a], np.uint64), np.array([b], np.uint64), np.uint64(q),
                 np.float64(1.0 / q))
    assert int(got[0]) == a * b % q


@given(st.data())
def test_the_ntt_turns_negacyclic_convolution_into_a_pointwise_product(data) -> None:
    polys = [[data.draw(st.lists(st.integers(0, q - 1), min_size=16, max_size=16))
              for q in SMALL.primes] for _ in range(2)]
    a, b = (np.array(p, dtype=np.uint64) for p in polys)
    product = SMALL.intt(SMALL.mul(SMALL.ntt(a), SMALL.ntt(b)))
    for k, q in enumerate(SMALL.primes):
        assert product[k].tolist() == _negacyclic(polys[0][k], polys[1][k], q)
    assert np.array_equal(SMALL.intt(SMALL.ntt(a)), a)


def test_centered_composition_in_floats_matches_the_exact_one() -> None:
    rng = np.random.default_rng(0)
    values = [int(v) for v in rng.integers(-2**62, 2**62, 16)]
    values = [v * 2**20 + 12345 for v in values]  # about 2^82, well inside Q / 2
    residues = SMALL.from_big(values)
    assert SMALL.centered_big(residues).tolist() == values
    modulus = 1
    for q in SMALL.primes:
        modulus *= q
    error = np.abs(SMALL.centered_float(residues) - np.array(values, dtype=np.float64))
    assert error.max() <= modulus * 2.0**-60  # the documented bound (extended precision)


def test_known_answer_a_tenseal_ciphertext_decrypts_with_seals_own_key() -> None:
    """Only this module's NTT and CRT, and the key SEAL generated: if the NTT differed from
    SEAL's in root or order, the product with the key would not be the plaintext."""
    ts = pytest.importorskip("tenseal")

    params = CkksParams(poly_modulus_degree=8192, coeff_mod_bit_sizes=(38, 38, 38, 50),
                        scale_bits=100, max_clients=1000)
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=8192,
                     coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes))
    ctx.global_scale = 2.0**100
    with tempfile.TemporaryDirectory() as tmp:
        ctx.secret_key().data.save(str(Path(tmp) / "sk"))
        body = _unwrap_seal((Path(tmp) / "sk").read_bytes())
    n, levels = 8192, len(params.primes)
    secret = np.frombuffer(body, dtype="<u8", offset=len(body) - 8 * levels * n).reshape(levels, n)
    key_level = RnsBasis(n, params.primes)
    signed = key_level.centered_big(key_level.intt(secret))
    assert set(np.unique(signed).tolist()) <= {-1, 0, 1}  # SEAL's ternary secret
    x = np.random.default_rng(1).uniform(-1, 1, n // 2)
    words = coefficients_from_vector_bytes(ts.ckks_vector(ctx, x.tolist()).serialize(),
                                           CiphertextLayout(n, 3)).reshape(2, 3, n)
    data = RnsBasis(n, params.data_primes)
    plain = data.add(words[0], data.mul(words[1], secret[:3]))
    assert np.abs(decode(params, plain[None], n // 2) - x).max() < 1e-9
