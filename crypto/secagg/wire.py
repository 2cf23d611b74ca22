"""JSON forms of the small SecAgg messages (binary fields as base64url), strictly checked.

Masked inputs are not JSON: they travel as raw little-endian words
(:func:`masked_input_from_bytes`), exactly ``dimension`` of them. Decoders
check types and sizes before building a message object, whose own checks run
on construction; anything else raises :class:`MalformedMessageError`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from blindsum.crypto.secagg.messages import (
    ConsistencySignature,
    KeyAdvert,
    MaskedInput,
    ShareEnvelope,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.errors import MalformedMessageError

__all__ = [
    "advert_from_json", "advert_to_json", "envelopes_from_json", "envelopes_to_json",
    "masked_input_from_bytes", "signature_from_json", "signature_to_json",
    "survivors_from_json", "survivors_to_json", "unmask_from_json", "unmask_to_json",
]

_MAX_B64 = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > _MAX_B64:
        raise MalformedMessageError("expected base64url text")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise MalformedMessageError("expected base64url text") from exc


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedMessageError("expected an integer")
    return value


def _obj(value: Any, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise MalformedMessageError(f"expected an object with exactly the keys {sorted(keys)}")
    return value


def advert_to_json(m: KeyAdvert) -> dict[str, Any]:
    return {"sender": m.sender, "cipher_public_key": _b64(m.cipher_public_key),
            "mask_public_key": _b64(m.mask_public_key), "signature": _b64(m.signature)}


def advert_from_json(value: Any) -> KeyAdvert:
    v = _obj(value, {"sender", "cipher_public_key", "mask_public_key", "signature"})
    return KeyAdvert(_int(v["sender"]), _unb64(v["cipher_public_key"]),
                     _unb64(v["mask_public_key"]), _unb64(v["signature"]))


def envelopes_to_json(envelopes: Sequence[ShareEnvelope]) -> list[dict[str, Any]]:
    return [{"sender": e.sender, "recipient": e.recipient, "ciphertext": _b64(e.ciphertext)}
            for e in envelopes]


def envelopes_from_json(value: Any, *, limit: int) -> tuple[ShareEnvelope, ...]:
    if not isinstance(value, list) or len(value) > limit:
        raise MalformedMessageError(f"expected a list of at most {limit} envelopes")
    out = []
    for item in value:
        v = _obj(item, {"sender", "recipient", "ciphertext"})
        out.append(ShareEnvelope(_int(v["sender"]), _int(v["recipient"]),
                                 _unb64(v["ciphertext"])))
    return tuple(out)


def survivors_to_json(s: SurvivorSet) -> dict[str, Any]:
    return {"survivors": list(s.survivors), "dropped": list(s.dropped)}


def survivors_from_json(value: Any) -> SurvivorSet:
    v = _obj(value, {"survivors", "dropped"})
    if not isinstance(v["survivors"], list) or not isinstance(v["dropped"], list):
        raise MalformedMessageError("survivors and dropped must be lists")
    return SurvivorSet(tuple(_int(i) for i in v["survivors"]),
                       tuple(_int(i) for i in v["dropped"]))


def signature_to_json(m: ConsistencySignature) -> dict[str, Any]:
    return {"sender": m.sender, "signature": _b64(m.signature)}


def signature_from_json(value: Any) -> ConsistencySignature:
    v = _obj(value, {"sender", "signature"})
    return ConsistencySignature(_int(v["sender"]), _unb64(v["signature"]))


def unmask_to_json(m: UnmaskShares) -> dict[str, Any]:
    return {"sender": m.sender,
            "self_mask_shares": {str(k): hex(v) for k, v in m.self_mask_shares.items()},
            "mask_key_shares": {str(k): hex(v) for k, v in m.mask_key_shares.items()}}


def _shares(value: Any, limit: int) -> dict[int, int]:
    if not isinstance(value, dict) or len(value) > limit:
        raise MalformedMessageError(f"expected at most {limit} shares")
    out = {}
    for key, share in value.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) <= 10):
            raise MalformedMessageError("share owners are decimal client ids")
        if not isinstance(share, str) or not share.startswith("0x") or len(share) > 70:
            raise MalformedMessageError("shares are 0x-prefixed hex field elements")
        try:
            out[int(key)] = int(share, 16)
        except ValueError as exc:
            raise MalformedMessageError("shares are 0x-prefixed hex field elements") from exc
    return out


def unmask_from_json(value: Any, *, limit: int) -> UnmaskShares:
    v = _obj(value, {"sender", "self_mask_shares", "mask_key_shares"})
    return UnmaskShares(_int(v["sender"]), self_mask_shares=_shares(v["self_mask_shares"], limit),
                        mask_key_shares=_shares(v["mask_key_shares"], limit))


def masked_input_from_bytes(sender: int, data: bytes, *, dimension: int,
                            dtype: np.dtype) -> MaskedInput:
    """Raw little-endian words; the length must be exactly ``dimension`` words."""
    if len(data) != dimension * dtype.itemsize:
        raise MalformedMessageError(
            f"a masked input is exactly {dimension * dtype.itemsize} bytes, got {len(data)}")
    words = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
    return MaskedInput(sender, words)
