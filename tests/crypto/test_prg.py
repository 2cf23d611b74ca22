"""Mask PRG: the security parameter is visible, streams are separated, buffers checked."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from blindsum.crypto.hazmat import prg
from blindsum.crypto.hazmat.prg import MaskExpander, PrgAlgorithm, mask_from_seed

SEED = bytes(range(32))


def test_security_parameter_is_256_bit_seeds_and_a_cipher_keystream() -> None:
    """The check Flower's SecAgg+ would fail: seeds are 256 bits and the PRG is a cipher."""
    assert prg.SEED_BYTES * 8 == 256
    assert {a.value for a in PrgAlgorithm} == {"aes-256-ctr", "chacha20"}
    for bad in (b"", bytes(4), bytes(16), bytes(31), bytes(33)):
        with pytest.raises(ValueError, match="32 bytes"):
            mask_from_seed(bad, 8, domain=b"x")


def test_aes_mask_is_the_aes256_ctr_keystream() -> None:
    import hashlib

    iv = hashlib.sha256(b"blindsum/v1|prg|" + b"d").digest()[:8] + bytes(8)
    enc = Cipher(algorithms.AES(SEED), modes.CTR(iv)).encryptor()
    expected = np.frombuffer(enc.update(bytes(40)), dtype="<u4")
    np.testing.assert_array_equal(mask_from_seed(SEED, 10, domain=b"d"), expected)


def test_seeds_differing_in_any_byte_give_unrelated_masks() -> None:
    base = mask_from_seed(SEED, 1024, domain=b"d")
    for i in (0, 4, 8, 31):  # bytes a 32-bit XOR-fold would collapse together
        other = bytearray(SEED)
        other[i] ^= 1
        assert np.mean(mask_from_seed(bytes(other), 1024, domain=b"d") == base) < 0.01


def test_domains_separate_streams() -> None:
    a = mask_from_seed(SEED, 256, domain=b"secagg/self-mask")
    b = mask_from_seed(SEED, 256, domain=b"secagg/pair-mask")
    assert np.mean(a == b) < 0.02


@pytest.mark.parametrize("algorithm", list(PrgAlgorithm))
@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_masks_look_uniform(algorithm, dtype) -> None:
    """Byte histogram chi-square far from the 0.1% tail: a sanity check, not a proof."""
    m = mask_from_seed(SEED, 50_000, domain=b"u", dtype=dtype, algorithm=algorithm)
    counts = np.bincount(m.view(np.uint8), minlength=256)
    expected = counts.sum() / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 330  # 255 dof: P[chi2 > 330] ~ 0.001


def test_expander_add_then_subtract_is_identity() -> None:
    ex = MaskExpander(1000)
    acc = np.arange(1000, dtype=np.uint32)
    ex.add(acc, SEED, domain=b"x")
    assert not np.array_equal(acc, np.arange(1000, dtype=np.uint32))
    ex.subtract(acc, SEED, domain=b"x")
    np.testing.assert_array_equal(acc, np.arange(1000, dtype=np.uint32))


def test_expander_refuses_bad_buffers() -> None:
    ex = MaskExpander(8)
    with pytest.raises(ValueError):
        ex.expand(SEED, domain=b"x", out=np.empty(7, dtype=np.uint32))
    with pytest.raises(ValueError):
        ex.expand(SEED, domain=b"x", out=np.empty(8, dtype=np.uint64))
    with pytest.raises(ValueError):
        ex.expand(SEED, domain=b"x", out=np.empty(16, dtype=np.uint32)[::2])
    with pytest.raises(ValueError):
        MaskExpander(8, dtype=np.int32)


def test_expanding_into_a_given_buffer_matches_a_fresh_mask() -> None:
    out = np.empty(33, dtype=np.uint64)
    MaskExpander(33, dtype=np.uint64).expand(SEED, domain=b"z", out=out)
    np.testing.assert_array_equal(out, mask_from_seed(SEED, 33, domain=b"z", dtype=np.uint64))
