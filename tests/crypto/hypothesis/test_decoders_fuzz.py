"""Decoders of untrusted bytes fail only with MalformedMessageError, never anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blindsum.crypto.ckks.params import CkksParams
from blindsum.crypto.ckks.seal_bytes import CiphertextLayout, coefficients_from_vector_bytes
from blindsum.crypto.ckks.wire import HEADER, decode_upload, encode_upload
from blindsum.crypto.secagg import wire
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


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
_KEYS = st.sampled_from(["sender", "accused", "excluded", "commitment", "signature",
                         "self_mask_shares", "mask_key_shares", "pair_seeds", "survivors",
                         "dropped", "cipher_public_key", "mask_public_key", "seed_reveal"])
_OWNERS = st.text(alphabet="0123456789\u00b2\u00b3\u00b9\u0663\u0966", min_size=1,
                  max_size=4)
_UNMASK = st.fixed_dictionaries({
    "sender": st.integers(1, 100),
    **{key: st.dictionaries(_OWNERS, st.text(max_size=8) | st.just("0x1"), max_size=3)
       for key in ("self_mask_shares", "mask_key_shares", "pair_seeds")}})


@given(st.dictionaries(_KEYS, _JSON, max_size=6) | _UNMASK)
def test_secagg_json_decoders_raise_only_malformed(value) -> None:
    """Every JSON decoder of a client message, on JSON of roughly the right shape (including
    share owners in non-ASCII digits such as '\u00b2', which str.isdigit accepts and int()
    does not: found by the adversarial review)."""
    decoders = [wire.commitment_from_json, wire.advert_from_json, wire.signature_from_json,
                wire.survivors_from_json,
                lambda v: wire.unmask_from_json(v, limit=8),
                lambda v: wire.accusations_from_json(v, limit=8),
                lambda v: wire.exclusions_from_json(v, limit=8)]
    for decode in decoders:
        try:
            decode(value)
        except MalformedMessageError:
            continue


def test_an_unmask_message_keyed_by_a_superscript_digit_is_malformed() -> None:
    message = {"sender": 1, "self_mask_shares": {"\u00b2": "0x1"}, "mask_key_shares": {},
               "pair_seeds": {}}
    with pytest.raises(MalformedMessageError):
        wire.unmask_from_json(message, limit=8)
