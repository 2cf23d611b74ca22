"""CKKS mode: parameters, the upload format, the accumulator and key custody."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blindsum.crypto.ckks.accumulator import EncryptedSumAccumulator
from blindsum.crypto.ckks.custody import LocalKeyCustody
from blindsum.crypto.ckks.encryptor import CkksEncryptor, sign_upload
from blindsum.crypto.ckks.params import CkksParams, seal_primes
from blindsum.crypto.ckks.wire import HEADER, decode_upload, upload_size
from blindsum.crypto.hazmat.signing import generate_identity_key, identity_public_bytes
from blindsum.errors import (
    ConfigError,
    DecryptionError,
    InvalidSignatureError,
    MalformedMessageError,
    ProtocolError,
    RoundStateError,
    ThresholdNotMetError,
)

PARAMS = CkksParams()
DIM = 3000
ROUND = b"round-1"


@pytest.fixture(scope="module")
def custody() -> LocalKeyCustody:
    return LocalKeyCustody.generate(PARAMS)


@pytest.fixture(scope="module")
def encryptor(custody) -> CkksEncryptor:
    return CkksEncryptor(PARAMS, custody.public_context())


@pytest.fixture(scope="module")
def clients() -> dict[int, Ed25519PrivateKey]:
    return {u: generate_identity_key() for u in range(1, 6)}


@pytest.fixture(scope="module")
def roster(clients) -> dict[int, bytes]:
    return {u: identity_public_bytes(k) for u, k in clients.items()}


@pytest.fixture(scope="module")
def uploads(encryptor, clients) -> dict[int, tuple[np.ndarray, bytes]]:
    rng = np.random.default_rng(1)
    out = {}
    for u in clients:
        x = rng.uniform(-1, 1, DIM)
        out[u] = (x, encryptor.encrypt(x))
    return out


def _accumulate(uploads, clients, ids) -> EncryptedSumAccumulator:
    acc = EncryptedSumAccumulator(PARAMS, DIM, round_id=ROUND)
    for u in ids:
        data = uploads[u][1]
        acc.add(data, client_id=u, signature=sign_upload(clients[u], ROUND, u, data))
    return acc


# -- parameters -----------------------------------------------------------------------

def test_seal_primes_match_what_seal_picks(tmp_path) -> None:
    """Our prime choice equals the primes in SEAL's own serialized parameters."""
    import struct

    import tenseal as ts
    import zstandard

    for degree, bits in ((4096, (60, 49)), (8192, (60, 40, 40)), (8192, (60, 40, 40, 60))):
        ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=degree,
                         coeff_mod_bit_sizes=list(bits))
        path = tmp_path / f"{degree}-{len(bits)}.bin"
        ctx.seal_context().data.key_context_data().parms().save(str(path))
        blob = path.read_bytes()
        body = blob[16:] if blob[5] == 0 else zstandard.ZstdDecompressor().decompress(
            blob[16:], max_output_size=1 << 20)
        count = struct.unpack_from("<Q", body, 9)[0]
        moduli = [struct.unpack_from("<Q", body, 17 + 24 * i + 16)[0] for i in range(count)]
        assert tuple(moduli) == seal_primes(degree, bits)


def test_default_is_the_compact_secure_set() -> None:
    assert (PARAMS.poly_modulus_degree, PARAMS.coeff_mod_bit_sizes) == (4096, (60, 49))
    assert upload_size(PARAMS, 10**6) / 10**6 < 33  # bytes per float


def test_parameters_below_128_bit_security_are_refused() -> None:
    with pytest.raises(ConfigError, match="128-bit"):
        CkksParams(poly_modulus_degree=4096, coeff_mod_bit_sizes=(60, 60))


def test_parameters_that_could_overflow_are_refused() -> None:
    # The measured failure: a 40-bit data prime, 1000 clients, scale 2^40.
    with pytest.raises(ConfigError, match="overflow"):
        CkksParams(coeff_mod_bit_sizes=(40, 49), scale_bits=40, max_clients=1000)
    with pytest.raises(ConfigError, match="overflow"):
        CkksParams(scale_bits=50, max_clients=1000)
    with pytest.raises(ConfigError, match="imprecise"):
        CkksParams(scale_bits=20)


def test_for_clients_picks_the_largest_safe_scale() -> None:
    p = CkksParams.for_clients(1000)
    assert p.scale_bits == 45 and p.headroom_bits >= 0
    assert CkksParams.for_clients(10**6, precision=1e-3).scale_bits < 45
    with pytest.raises(ConfigError, match="precision"):
        CkksParams.for_clients(10**6, max_abs=100.0, precision=1e-9)


# -- round trip ---------------------------------------------------------------------------

def test_sum_decrypts_within_tolerance(custody, uploads, clients, roster) -> None:
    acc = _accumulate(uploads, clients, [1, 2, 3, 4, 5])
    acc.close()
    total = custody.decrypt_sum(acc, min_clients=3, roster=roster)
    expected = np.sum([uploads[u][0] for u in clients], axis=0)
    assert total.shape == (DIM,)
    assert np.max(np.abs(total - expected)) < 1e-6


def test_public_context_cannot_decrypt(custody, uploads) -> None:
    import tenseal as ts

    from blindsum.crypto.ckks.encryptor import layout_of
    from blindsum.crypto.ckks.seal_bytes import vector_bytes_from_coefficients

    public = ts.context_from(custody.public_context())
    assert not public.has_secret_key()
    words = decode_upload(uploads[1][1], PARAMS, DIM).reshape(-1, PARAMS.words_per_chunk)
    template = ts.ckks_vector(public, [0.0]).serialize()
    data = vector_bytes_from_coefficients(words[0], template, layout_of(PARAMS))
    with pytest.raises(ValueError, match="secret_key"):
        ts.ckks_vector_from(public, data).decrypt()


def test_client_with_the_secret_key_is_refused(custody) -> None:
    import tenseal as ts

    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=4096, coeff_mod_bit_sizes=[60, 49])
    ctx.global_scale = 2.0**40
    with pytest.raises(ConfigError, match="public context only"):
        CkksEncryptor(PARAMS, ctx.serialize(save_secret_key=True))


def test_context_of_other_parameters_is_refused(custody) -> None:
    with pytest.raises(ConfigError):
        CkksEncryptor(CkksParams(scale_bits=42), custody.public_context())


def test_values_beyond_max_abs_and_nan_are_refused_client_side(encryptor) -> None:
    with pytest.raises(ValueError, match="clip first"):
        encryptor.encrypt(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="NaN"):
        encryptor.encrypt(np.array([np.nan]))


# -- hostile uploads -----------------------------------------------------------------------

@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-1], "exactly"),
    (lambda b: b + b"\x00", "exactly"),
    (lambda b: b[: HEADER.size], "exactly"),
    (lambda b: b"XXXX" + b[4:], "magic"),
    (lambda b: b[:24] + bytes(32) + b[56:], "other CKKS parameters"),
    (lambda b: b[:16] + (1).to_bytes(8, "little") + b[24:], "header"),
    (lambda b: b[: HEADER.size] + b"\xff" * 8 + b[HEADER.size + 8:], "reduced"),
    (lambda b: bytes(len(b)), "magic"),
])
def test_hostile_uploads_are_refused_and_leave_the_sum_unchanged(
    mutate, message, uploads, clients
) -> None:
    acc = _accumulate(uploads, clients, [1])
    before = acc.ciphertext_sum()
    bad = mutate(uploads[2][1])
    with pytest.raises(MalformedMessageError, match=message):
        acc.add(bad, client_id=2, signature=bytes(64))
    np.testing.assert_array_equal(acc.ciphertext_sum(), before)
    assert set(acc.contributions) == {1}


def test_a_refused_digest_leaves_the_sum_unchanged_so_a_retry_counts_once(
        uploads, clients, custody, roster) -> None:
    """The upload was folded in before its digest argument was checked: the retry after that
    error counted the same ciphertext twice, and the decrypted sum held it twice."""
    acc = _accumulate(uploads, clients, [1, 3, 4])
    before = acc.ciphertext_sum()
    data = uploads[2][1]
    signature = sign_upload(clients[2], ROUND, 2, data)
    with pytest.raises(MalformedMessageError, match="SHA-256"):
        acc.add(data, client_id=2, signature=signature, digest=b"short")
    np.testing.assert_array_equal(acc.ciphertext_sum(), before)
    acc.add(data, client_id=2, signature=signature)
    acc.close()
    total = custody.decrypt_sum(acc, roster=roster, min_clients=3)
    expected = sum(uploads[u][0] for u in (1, 2, 3, 4))
    np.testing.assert_allclose(total, expected, atol=1e-3)


def test_duplicate_and_late_uploads_are_refused(uploads, clients) -> None:
    acc = _accumulate(uploads, clients, [1])
    with pytest.raises(ProtocolError):
        acc.add(uploads[1][1], client_id=1, signature=bytes(64))
    acc.close()
    with pytest.raises(RoundStateError):
        acc.add(uploads[2][1], client_id=2, signature=bytes(64))


def test_lazy_reduction_is_exact_over_many_uploads(uploads, clients) -> None:
    """Forty uploads (past several deferred reductions) equal a reference modular sum."""
    acc = EncryptedSumAccumulator(PARAMS, DIM, round_id=ROUND)
    reference = np.zeros_like(acc.ciphertext_sum(), dtype=object)
    q = PARAMS.data_primes[0]
    for i in range(40):
        data = uploads[1 + i % 5][1]
        acc.add(data, client_id=100 + i, signature=bytes(64))
        reference = (reference + decode_upload(data, PARAMS, DIM).astype(object)) % q
    np.testing.assert_array_equal(acc.ciphertext_sum().astype(object), reference)


# -- custody refuses -------------------------------------------------------------------------

def test_custody_decrypts_only_closed_sums(custody, uploads, clients, roster) -> None:
    acc = _accumulate(uploads, clients, [1, 2, 3])
    with pytest.raises(RoundStateError):
        custody.decrypt_sum(acc, min_clients=3, roster=roster)


def test_custody_refuses_too_few_contributions(custody, uploads, clients, roster) -> None:
    acc = _accumulate(uploads, clients, [1, 2])
    acc.close()
    with pytest.raises(ThresholdNotMetError):
        custody.decrypt_sum(acc, min_clients=3, roster=roster)
    single = _accumulate(uploads, clients, [4])
    single.close()
    with pytest.raises(ThresholdNotMetError):
        custody.decrypt_sum(single, min_clients=0, roster=roster)  # never a lone upload


def test_custody_refuses_unsigned_or_unknown_contributions(custody, uploads, clients,
                                                          roster) -> None:
    acc = _accumulate(uploads, clients, [1, 2])
    acc.add(uploads[3][1], client_id=3, signature=bytes(64))  # forged by the aggregator
    acc.close()
    with pytest.raises(InvalidSignatureError):
        custody.decrypt_sum(acc, min_clients=3, roster=roster)
    stranger = _accumulate(uploads, clients, [1, 2, 3])
    stranger.close()
    with pytest.raises(ConfigError, match="not enrolled"):
        custody.decrypt_sum(stranger, min_clients=3, roster={1: roster[1], 2: roster[2]})


def test_sealed_key_round_trip_and_wrong_kek(custody, uploads, clients, roster) -> None:
    kek = bytes(range(32))
    blob = custody.seal(kek)
    assert b"secret" not in blob.lower()
    restored = LocalKeyCustody.unseal(PARAMS, blob, kek)
    acc = _accumulate(uploads, clients, [1, 2, 3])
    acc.close()
    np.testing.assert_allclose(restored.decrypt_sum(acc, min_clients=3, roster=roster),
                               custody.decrypt_sum(acc, min_clients=3, roster=roster))
    with pytest.raises(DecryptionError):
        LocalKeyCustody.unseal(PARAMS, blob, bytes(32))
    with pytest.raises(DecryptionError):
        LocalKeyCustody.unseal(CkksParams(scale_bits=42), blob, kek)
    with pytest.raises(DecryptionError):
        LocalKeyCustody.unseal(PARAMS, blob[:20], kek)
