"""Shamir sharing over GF(2^256 + 297)."""

from __future__ import annotations

import os

import pytest
import sympy

from blindsum.crypto.hazmat import shamir
from blindsum.errors import InvalidShareError


def test_field_is_prime_and_larger_than_every_secret() -> None:
    assert sympy.isprime(shamir.PRIME)
    assert shamir.PRIME > 2**256
    assert not any(sympy.isprime(2**256 + i) for i in range(1, 297))  # the smallest such prime


def test_split_and_combine() -> None:
    secret = os.urandom(32)
    shares = shamir.split(secret, threshold=3, xs=[5, 9, 11, 40])
    assert shamir.combine({x: shares[x] for x in (5, 11, 40)}, threshold=3) == secret
    assert shamir.combine(shares, threshold=3) == secret


def test_too_few_shares_raise() -> None:
    shares = shamir.split(os.urandom(32), threshold=3, xs=[1, 2, 3])
    with pytest.raises(InvalidShareError):
        shamir.combine({1: shares[1], 2: shares[2]}, threshold=3)


def test_inconsistent_spare_share_is_detected() -> None:
    shares = shamir.split(os.urandom(32), threshold=2, xs=[1, 2, 3])
    shares[3] = (shares[3] + 1) % shamir.PRIME
    with pytest.raises(InvalidShareError):
        shamir.combine(shares, threshold=2)


def test_out_of_range_shares_and_points_are_refused() -> None:
    with pytest.raises(InvalidShareError):
        shamir.combine({1: shamir.PRIME, 2: 0}, threshold=2)
    with pytest.raises(ValueError):
        shamir.split(bytes(32), threshold=2, xs=[0, 1])
    with pytest.raises(ValueError):
        shamir.split(bytes(32), threshold=2, xs=[1, 1])
    with pytest.raises(ValueError):
        shamir.split(bytes(31), threshold=2, xs=[1, 2])
    with pytest.raises(ValueError):
        shamir.split(bytes(32), threshold=4, xs=[1, 2, 3])


def test_share_encoding_is_size_checked() -> None:
    assert shamir.decode_share(shamir.encode_share(shamir.PRIME - 1)) == shamir.PRIME - 1
    for bad in (bytes(32), bytes(34), (shamir.PRIME).to_bytes(33, "big")):
        with pytest.raises(InvalidShareError):
            shamir.decode_share(bad)


def test_result_that_is_not_a_256_bit_secret_is_refused() -> None:
    # Shares of the constant polynomial 2^256 (a field element, but no secret).
    with pytest.raises(InvalidShareError):
        shamir.combine({1: 2**256, 2: 2**256}, threshold=2)
