"""Known-answer vectors for Shamir sharing over GF(l), l the Ed25519 group order
(``tests/crypto/vectors/shamir/split.json``), checked independently by
``tests/crypto/vectors/verify_vectors.py`` (which also checks that the modulus is prime)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from blindsum.crypto.hazmat import feldman, shamir
from blindsum.errors import InvalidShareError


def _vector_loader() -> ModuleType:
    path = Path(__file__).resolve().parent / "vectors" / "loader.py"
    spec = importlib.util.spec_from_file_location("blindsum_test_vectors_loader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vectors = _vector_loader()
SPLIT = "shamir/split.json"


def _shares(vector) -> dict[int, int]:
    return {int(x): int(y, 16) for x, y in vector["shares"].items()}


@vectors.json_parametrize(SPLIT)
def test_split_with_coefficients(vector) -> None:
    coefficients = [int(c, 16) for c in vector["coefficients"]]
    shares = shamir.split_with_coefficients(bytes.fromhex(vector["secret"]), coefficients,
                                            vector["xs"])
    assert list(shares) == vector["xs"]
    assert shares == _shares(vector)


@vectors.json_parametrize(SPLIT)
def test_share_encoding(vector) -> None:
    for x, y in _shares(vector).items():
        encoded = shamir.encode_share(y)
        assert encoded.hex() == vector["encoded_shares"][str(x)]
        assert shamir.decode_share(encoded) == y


@vectors.json_parametrize(SPLIT)
def test_combine(vector) -> None:
    shares, t = sorted(_shares(vector).items()), vector["threshold"]
    for subset in (shares[:t], shares[-t:], shares):
        assert shamir.combine(dict(subset), threshold=t).hex() == vector["secret"]


@vectors.json_parametrize(SPLIT, where=lambda v: len(v["xs"]) > v["threshold"])
def test_combine_refuses_a_share_off_the_polynomial(vector) -> None:
    shares = _shares(vector)
    last = vector["xs"][-1]
    shares[last] = (shares[last] + 1) % shamir.PRIME
    with pytest.raises(InvalidShareError):
        shamir.combine(shares, threshold=vector["threshold"])


def test_vectors_are_current() -> None:
    assert vectors.stale_files(SPLIT) == [], (
        "Shamir sharing no longer reproduces its checked vectors: if the change is intended, "
        "run tests/crypto/vectors/generate_vectors.py and then "
        "tests/crypto/vectors/verify_vectors.py")


FELDMAN = "shamir/feldman.json"


@vectors.json_parametrize(FELDMAN)
def test_feldman_commitments_and_the_shares_they_accept(vector) -> None:
    coefficients = [int(c, 16) for c in vector["coefficients"]]
    points = feldman.commit(coefficients)
    assert [p.hex() for p in points] == vector["commitments"]
    for x, y in vector["shares"].items():
        feldman.verify_share(points, int(x), int(y, 16))
        with pytest.raises(InvalidShareError):
            feldman.verify_share(points, int(x), (int(y, 16) + 1) % shamir.PRIME)
    feldman.verify_secret(points, coefficients[0])


def test_feldman_vectors_are_current() -> None:
    assert vectors.stale_files(FELDMAN) == []
