"""A key reveal as octets: fixed-size fields whose sizes follow from the key's context.

::

    offset  size  field
    0       4     magic b"BSKR"
    4       1     format version (1)
    5       1     the revealing custodian's index j
    6       2     reserved, zero
    8       64    j's Ed25519 signature over the reveal (see .ceremony)
    72      P     b_j: key-level residues, little-endian uint64 (P = 8 L' N)
    72 + P  E     one envelope per other committed custodian, ascending index: nonce,
                  AES-GCM ciphertext of its data-level re-share (8 L N bytes), tag

The decoder checks the total size against the context and the committed custodians
before it reads a field.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from blindsum.crypto.ckks.threshold import keys
from blindsum.crypto.ckks.threshold.ceremony import KeyContext, KeyReveal
from blindsum.crypto.ckks.threshold.residues import residues_size
from blindsum.crypto.hazmat.kex import NONCE_BYTES
from blindsum.errors import MalformedMessageError

__all__ = ["decode_reveal", "encode_reveal", "reveal_size"]

_HEADER: Final = struct.Struct("<4sBBH64s")
_MAGIC: Final = b"BSKR"
_TAG_BYTES: Final = 16


def _envelope_size(context: KeyContext) -> int:
    return NONCE_BYTES + residues_size(context.basis) + _TAG_BYTES


def _public_size(context: KeyContext) -> int:
    return residues_size(keys.key_basis(context.params.ckks))


def reveal_size(context: KeyContext, committed: int) -> int:
    """The exact byte length of a reveal for this key when ``committed`` custodians
    committed (each deals to the others)."""
    return _HEADER.size + _public_size(context) + (committed - 1) * _envelope_size(context)


def encode_reveal(context: KeyContext, reveal: KeyReveal) -> bytes:
    holders = sorted(reveal.envelopes)
    if reveal.index in holders or \
            any(len(reveal.envelopes[i]) != _envelope_size(context) for i in holders):
        raise ValueError("a reveal carries one envelope of the context's size per other "
                         "custodian")
    return (_HEADER.pack(_MAGIC, 1, reveal.index, 0, reveal.signature) + reveal.public_share
            + b"".join(reveal.envelopes[i] for i in holders))


def decode_reveal(context: KeyContext, data: bytes | memoryview,
                  committed: Sequence[int]) -> KeyReveal:
    """A reveal by one of the ``committed`` custodians, with an envelope for each other."""
    expected = reveal_size(context, len(committed))
    if len(data) != expected:
        raise MalformedMessageError(f"a key reveal for this round is exactly {expected} "
                                    f"bytes, got {len(data)}")
    magic, version, index, reserved, signature = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != 1 or reserved != 0:
        raise MalformedMessageError("not a blindsum key reveal (bad magic or version)")
    context.entry(index)  # on the roster
    if index not in committed:
        raise MalformedMessageError(f"custodian {index} did not commit to this key")
    offset = _HEADER.size + _public_size(context)
    public = bytes(data[_HEADER.size:offset])
    size = _envelope_size(context)
    holders = sorted(i for i in committed if i != index)
    envelopes = {i: bytes(data[offset + k * size: offset + (k + 1) * size])
                 for k, i in enumerate(holders)}
    return KeyReveal(index, public, envelopes, signature)
