"""A key reveal as octets: fixed-size fields whose sizes follow from the key's context.

::

    offset  size  field
    0       4     magic b"BSKR"
    4       1     format version (1)
    5       1     the revealing custodian's index j
    6       2     reserved, zero
    8       64    j's Ed25519 signature over the reveal (see .ceremony)
    72      P     b_j: key-level residues, little-endian uint64 (P = 8 L' N)
    72 + P  E     one envelope per other custodian, ascending index: nonce, AES-GCM
                  ciphertext of its data-level re-share (8 L N bytes), tag

The decoder checks the total size against the context before it reads a field.
"""

from __future__ import annotations

import struct
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


def reveal_size(context: KeyContext) -> int:
    """The exact byte length of any custodian's reveal for this key."""
    others = context.params.custodians - 1
    return _HEADER.size + _public_size(context) + others * _envelope_size(context)


def encode_reveal(context: KeyContext, reveal: KeyReveal) -> bytes:
    holders = sorted(c.index for c in context.custodians if c.index != reveal.index)
    if sorted(reveal.envelopes) != holders or \
            any(len(reveal.envelopes[i]) != _envelope_size(context) for i in holders):
        raise ValueError("a reveal carries one envelope of the context's size per other "
                         "custodian")
    return (_HEADER.pack(_MAGIC, 1, reveal.index, 0, reveal.signature) + reveal.public_share
            + b"".join(reveal.envelopes[i] for i in holders))


def decode_reveal(context: KeyContext, data: bytes | memoryview) -> KeyReveal:
    if len(data) != reveal_size(context):
        raise MalformedMessageError(f"a key reveal for this federation is exactly "
                                    f"{reveal_size(context)} bytes, got {len(data)}")
    magic, version, index, reserved, signature = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != 1 or reserved != 0:
        raise MalformedMessageError("not a blindsum key reveal (bad magic or version)")
    context.entry(index)  # on the roster
    offset = _HEADER.size + _public_size(context)
    public = bytes(data[_HEADER.size:offset])
    size = _envelope_size(context)
    holders = sorted(c.index for c in context.custodians if c.index != index)
    envelopes = {i: bytes(data[offset + k * size: offset + (k + 1) * size])
                 for k, i in enumerate(holders)}
    return KeyReveal(index, public, envelopes, signature)
