"""JSON forms of the small SecAgg messages (binary fields as base64url), strictly checked.

Masked inputs are not JSON: they travel as raw little-endian words
(:func:`masked_input_from_bytes`), exactly ``dimension`` of them. Decoders
check types and sizes before building a message object, whose own checks run
on construction; anything else raises :class:`MalformedMessageError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from blindsum.crypto import base64url
from blindsum.crypto.secagg.messages import (
    Accusations,
    ConsistencySignature,
    Exclusions,
    KeyAdvert,
    MaskedInput,
    SeedCommitment,
    ShareEnvelope,
    SurvivorSet,
    UnmaskShares,
)
from blindsum.errors import MalformedMessageError

__all__ = [
    "accusations_from_json", "accusations_to_json", "exclusions_from_json",
    "exclusions_to_json",
    "advert_from_json", "advert_to_json", "adverts_from_json", "commitment_from_json",
    "commitment_to_json", "commitments_from_json", "envelopes_from_json", "envelopes_to_json",
    "masked_input_from_bytes", "signature_from_json", "signature_to_json",
    "survivors_from_json", "survivors_to_json", "unmask_from_json", "unmask_to_json",
]

_b64 = base64url.encode
_unb64 = base64url.decode


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedMessageError("expected an integer")
    return value


def _obj(value: Any, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise MalformedMessageError(f"expected an object with exactly the keys {sorted(keys)}")
    return value


def _list(value: Any, limit: int, what: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise MalformedMessageError(f"expected a list of at most {limit} {what}")
    return value


def commitment_to_json(m: SeedCommitment) -> dict[str, Any]:
    return {"sender": m.sender, "commitment": _b64(m.commitment), "signature": _b64(m.signature)}


def commitment_from_json(value: Any) -> SeedCommitment:
    v = _obj(value, {"sender", "commitment", "signature"})
    return SeedCommitment(_int(v["sender"]), _unb64(v["commitment"]), _unb64(v["signature"]))


def commitments_from_json(value: Any, *, limit: int) -> tuple[SeedCommitment, ...]:
    """At most ``limit`` (the round's participants) seed commitments."""
    return tuple(commitment_from_json(c) for c in _list(value, limit, "seed commitments"))


def advert_to_json(m: KeyAdvert) -> dict[str, Any]:
    return {"sender": m.sender, "cipher_public_key": _b64(m.cipher_public_key),
            "mask_public_key": _b64(m.mask_public_key), "seed_reveal": _b64(m.seed_reveal),
            "signature": _b64(m.signature)}


def advert_from_json(value: Any) -> KeyAdvert:
    v = _obj(value, {"sender", "cipher_public_key", "mask_public_key", "seed_reveal",
                     "signature"})
    return KeyAdvert(_int(v["sender"]), _unb64(v["cipher_public_key"]),
                     _unb64(v["mask_public_key"]), _unb64(v["seed_reveal"]),
                     _unb64(v["signature"]))


def adverts_from_json(value: Any, *, limit: int) -> tuple[KeyAdvert, ...]:
    """At most ``limit`` (the round's participants) key adverts."""
    return tuple(advert_from_json(a) for a in _list(value, limit, "key adverts"))


def envelopes_to_json(envelopes: Sequence[ShareEnvelope]) -> list[dict[str, Any]]:
    return [{"sender": e.sender, "recipient": e.recipient, "ciphertext": _b64(e.ciphertext),
             "self_mask_commitments": [_b64(p) for p in e.self_mask_commitments],
             "mask_key_commitments": [_b64(p) for p in e.mask_key_commitments]}
            for e in envelopes]


def _points(value: Any, limit: int) -> tuple[bytes, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        raise MalformedMessageError(f"expected a list of 1 to {limit} commitments")
    return tuple(_unb64(p) for p in value)


def envelopes_from_json(value: Any, *, limit: int, threshold: int) -> tuple[ShareEnvelope, ...]:
    """At most ``limit`` envelopes, each with ``threshold`` commitments per polynomial."""
    if not isinstance(value, list) or len(value) > limit:
        raise MalformedMessageError(f"expected a list of at most {limit} envelopes")
    out = []
    for item in value:
        v = _obj(item, {"sender", "recipient", "ciphertext", "self_mask_commitments",
                        "mask_key_commitments"})
        out.append(ShareEnvelope(_int(v["sender"]), _int(v["recipient"]),
                                 _unb64(v["ciphertext"]),
                                 _points(v["self_mask_commitments"], threshold),
                                 _points(v["mask_key_commitments"], threshold)))
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
            "mask_key_shares": {str(k): hex(v) for k, v in m.mask_key_shares.items()},
            "pair_seeds": {str(k): _b64(v) for k, v in m.pair_seeds.items()}}


def _owner(key: Any) -> int:
    if not (isinstance(key, str) and key.isascii() and key.isdecimal() and len(key) <= 10):
        raise MalformedMessageError("share owners are decimal client ids")
    return int(key)


def _seeds(value: Any, limit: int) -> dict[int, bytes]:
    if not isinstance(value, dict) or len(value) > limit:
        raise MalformedMessageError(f"expected at most {limit} pair seeds")
    return {_owner(key): _unb64(seed) for key, seed in value.items()}


def _shares(value: Any, limit: int) -> dict[int, int]:
    if not isinstance(value, dict) or len(value) > limit:
        raise MalformedMessageError(f"expected at most {limit} shares")
    out = {}
    for key, share in value.items():
        _owner(key)
        if not isinstance(share, str) or not share.startswith("0x") or len(share) > 70:
            raise MalformedMessageError("shares are 0x-prefixed hex field elements")
        try:
            out[int(key)] = int(share, 16)
        except ValueError as exc:
            raise MalformedMessageError("shares are 0x-prefixed hex field elements") from exc
    return out


def unmask_from_json(value: Any, *, limit: int) -> UnmaskShares:
    v = _obj(value, {"sender", "self_mask_shares", "mask_key_shares", "pair_seeds"})
    return UnmaskShares(_int(v["sender"]), self_mask_shares=_shares(v["self_mask_shares"], limit),
                        mask_key_shares=_shares(v["mask_key_shares"], limit),
                        pair_seeds=_seeds(v["pair_seeds"], limit))


def _ids(value: Any, limit: int, what: str) -> tuple[int, ...]:
    return tuple(_int(i) for i in _list(value, limit, what))


def accusations_to_json(m: Accusations) -> dict[str, Any]:
    return {"sender": m.sender, "accused": list(m.accused)}


def accusations_from_json(value: Any, *, limit: int) -> Accusations:
    """At most ``limit`` (the neighbourhood size) accused clients."""
    v = _obj(value, {"sender", "accused"})
    return Accusations(_int(v["sender"]), _ids(v["accused"], limit, "accused clients"))


def exclusions_to_json(m: Exclusions) -> dict[str, Any]:
    return {"excluded": list(m.excluded)}


def exclusions_from_json(value: Any, *, limit: int) -> Exclusions:
    """At most ``limit`` (the round's participants) excluded clients."""
    v = _obj(value, {"excluded"})
    return Exclusions(_ids(v["excluded"], limit, "excluded clients"))


def masked_input_from_bytes(sender: int, data: bytes, *, dimension: int,
                            dtype: np.dtype) -> MaskedInput:
    """Raw little-endian words; the length must be exactly ``dimension`` words."""
    if len(data) != dimension * dtype.itemsize:
        raise MalformedMessageError(
            f"a masked input is exactly {dimension * dtype.itemsize} bytes, got {len(data)}")
    words = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
    return MaskedInput(sender, words)
