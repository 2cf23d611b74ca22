"""Decoders of untrusted bytes fail only with MalformedMessageError, never anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.seal_bytes import CiphertextLayout, coefficients_from_vector_bytes
from blindsum.crypto.ckks.wire import HEADER, decode_upload, encode_upload
from blindsum.crypto.secagg.messages import SharePair
from blindsum.errors import MalformedMessageError

PARAMS = CkksParams()
LAYOUT = CiphertextLayout(PARAMS.poly_modulus_degree, 1)
VALID = encode_upload(PARAMS, 10, np.zeros((1, PARAMS.words_per_chunk), dtype=np.uint64))


@given(st.binary(max_size=300))
def test_random_bytes_as_ckks_upload(data) -> None:
    try:
        decode_upload(data, PARAMS, 10)
    except MalformedMessageError:
        return
    raise AssertionError("random bytes decoded as an upload")


@given(st.integers(0, len(VALID) - 1), st.integers(0, 255))
def test_single_byte_corruptions_of_the_header_are_caught(pos, value) -> None:
    pos %= HEADER.size
    data = bytearray(VALID)
    if data[pos] == value:
        return
    data[pos] = value
    try:
        decode_upload(bytes(data), PARAMS, 10)
    except MalformedMessageError:
        return
    raise AssertionError(f"corrupted header byte {pos} accepted")


@given(st.binary(max_size=400))
def test_random_bytes_as_tenseal_vector(data) -> None:
    try:
        coefficients_from_vector_bytes(data, LAYOUT)
    except MalformedMessageError:
        return
    raise AssertionError("random bytes decoded as a ciphertext")


@given(st.binary(min_size=16, max_size=120))
def test_random_bytes_behind_a_valid_seal_header(body) -> None:
    import struct

    seal = struct.pack("<HBBBBHQ", 0xA15E, 16, 4, 3, 2, 0, 16 + len(body)) + body
    message = b"\x12" + bytes([len(seal)]) + seal if len(seal) < 128 else b""
    try:
        coefficients_from_vector_bytes(message, LAYOUT)
    except MalformedMessageError:
        return
    raise AssertionError("garbage ciphertext accepted")


@given(st.binary(max_size=100))
def test_random_bytes_as_share_plaintext(data) -> None:
    try:
        SharePair.from_bytes(data)
    except MalformedMessageError:
        return
    except Exception as exc:  # InvalidShareError from a share above the prime is a CryptoError
        from blindsum.errors import InvalidShareError

        assert isinstance(exc, InvalidShareError)
