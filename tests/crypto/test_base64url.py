"""The one base64url codec: RFC 4648 vectors, round trips, and strictness."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto import base64url
from blindsum.errors import MalformedMessageError

RFC4648 = [(b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"), (b"foob", "Zm9vYg"),
           (b"fooba", "Zm9vYmE"), (b"foobar", "Zm9vYmFy"), (b"\xfb\xff", "-_8")]


@pytest.mark.parametrize(("data", "text"), RFC4648)
def test_rfc4648_vectors_without_padding(data, text) -> None:
    assert base64url.encode(data) == text
    assert base64url.decode(text) == data


@given(st.binary(max_size=base64url.MAX_BYTES))
def test_round_trip_with_and_without_padding(data) -> None:
    assert base64url.decode(base64url.encode(data)) == data
    assert base64url.decode(base64.urlsafe_b64encode(data).decode()) == data


@pytest.mark.parametrize("text", [
    "Zg=",       # wrong padding
    "Zh",        # non-zero trailing bits: a second spelling of b"f"
    "Zm9v\n",    # outside the alphabet (the stdlib would skip it)
    "Zm+v",      # standard, not url-safe, alphabet
    "Z",         # no whole byte
    "Zm9v===",
])
def test_non_canonical_or_foreign_text_is_refused(text) -> None:
    with pytest.raises(MalformedMessageError):
        base64url.decode(text)


def test_sizes_are_checked_before_decoding() -> None:
    with pytest.raises(MalformedMessageError, match="at most 32 bytes"):
        base64url.decode("A" * 10_000_000, size=32)
    with pytest.raises(MalformedMessageError, match="expected 32 bytes, got 31"):
        base64url.decode(base64url.encode(bytes(31)), size=32)
    with pytest.raises(MalformedMessageError, match="base64url text"):
        base64url.decode(b"Zm9v")
