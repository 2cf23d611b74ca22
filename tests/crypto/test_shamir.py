"""Shamir sharing over GF(l), l the Ed25519 group order, with Feldman commitments."""

from __future__ import annotations

import pytest
import sympy

from blindsum.crypto.hazmat import feldman, shamir
from blindsum.errors import InvalidShareError


def _secret() -> bytes:
    return shamir.random_secret()


def test_field_is_the_prime_order_of_the_ed25519_group() -> None:
    assert sympy.isprime(shamir.PRIME)
    assert shamir.PRIME == 2**252 + 27742317777372353535851937790883648493  # RFC 8032 sec. 5.1
    assert 0 < int.from_bytes(_secret(), "big") < shamir.PRIME


def test_split_and_combine() -> None:
    secret = _secret()
    shares = shamir.split(secret, threshold=3, xs=[5, 9, 11, 40])
    assert shamir.combine({x: shares[x] for x in (5, 11, 40)}, threshold=3) == secret
    assert shamir.combine(shares, threshold=3) == secret


def test_too_few_shares_raise() -> None:
    shares = shamir.split(_secret(), threshold=3, xs=[1, 2, 3])
    with pytest.raises(InvalidShareError):
        shamir.combine({1: shares[1], 2: shares[2]}, threshold=3)


def test_inconsistent_spare_share_is_detected() -> None:
    shares = shamir.split(_secret(), threshold=2, xs=[1, 2, 3])
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
    with pytest.raises(ValueError):
        shamir.split(shamir.PRIME.to_bytes(32, "big"), threshold=2, xs=[1, 2])


def test_share_encoding_is_size_checked() -> None:
    assert shamir.decode_share(shamir.encode_share(shamir.PRIME - 1)) == shamir.PRIME - 1
    for bad in (bytes(31), bytes(33), (shamir.PRIME).to_bytes(32, "big")):
        with pytest.raises(InvalidShareError):
            shamir.decode_share(bad)


def test_every_verifiable_share_checks_against_its_commitments() -> None:
    secret = _secret()
    shares, points = shamir.split_verifiable(secret, threshold=3, xs=[3, 5, 8, 13])
    assert len(points) == 3
    for x, y in shares.items():
        feldman.verify_share(points, x, y)
    feldman.verify_secret(points, int.from_bytes(secret, "big"))


def test_a_share_off_the_committed_polynomial_is_caught_alone() -> None:
    """What lets a round name a holder that lies instead of failing: one share, checked by
    itself, against the dealer's commitments."""
    shares, points = shamir.split_verifiable(_secret(), threshold=3, xs=[3, 5, 8, 13])
    for bad in ((shares[5] + 1) % shamir.PRIME, 0, shares[8]):
        with pytest.raises(InvalidShareError):
            feldman.verify_share(points, 5, bad)
    other_shares, _ = shamir.split_verifiable(_secret(), threshold=3, xs=[5, 6, 7])
    with pytest.raises(InvalidShareError):
        feldman.verify_share(points, 5, other_shares[5])
    with pytest.raises(InvalidShareError):
        feldman.verify_secret(points, 1234)


def test_malformed_commitments_are_refused() -> None:
    shares, points = shamir.split_verifiable(_secret(), threshold=2, xs=[1, 2])
    for bad in ((bytes(32), points[1]), (points[0][:31], points[1]), (b"\xff" * 32, points[1])):
        with pytest.raises(InvalidShareError):
            feldman.verify_share(bad, 1, shares[1])
    with pytest.raises(ValueError):
        shamir.split_verifiable(bytes(32), threshold=2, xs=[1, 2])
