"""Key agreement, HKDF domain separation and AES-GCM envelopes."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from blindsum.crypto.hazmat import kex
from blindsum.errors import CryptoError, DecryptionError

CTX = bytes(range(32))


def _pair() -> tuple[X25519PrivateKey, X25519PrivateKey]:
    return kex.generate_private_key(), kex.generate_private_key()


def test_info_names_protocol_purpose_round_and_both_ids() -> None:
    info = kex.hkdf_info(b"secagg-pair-mask", CTX, 3, 17)
    assert info == b"blindsum/v1|secagg-pair-mask|" + CTX.hex().encode() + b"|3|17"
    with pytest.raises(ValueError):
        kex.hkdf_info(b"a|b", CTX, 1, 2)


def test_both_sides_derive_the_same_key() -> None:
    a, b = _pair()
    ka = kex.derive_pair_key(a, kex.public_bytes(b), purpose=b"p", context=CTX, first=1, second=2)
    kb = kex.derive_pair_key(b, kex.public_bytes(a), purpose=b"p", context=CTX, first=1, second=2)
    assert ka == kb and len(ka) == 32


@pytest.mark.parametrize("change", ["purpose", "context", "ids"])
def test_any_change_of_info_changes_the_key(change) -> None:
    a, b = _pair()
    args = {"purpose": b"p", "context": CTX, "first": 1, "second": 2}
    base = kex.derive_pair_key(a, kex.public_bytes(b), **args)
    changed = dict(args)
    if change == "purpose":
        changed["purpose"] = b"q"
    elif change == "context":
        changed["context"] = bytes(32)
    else:
        changed["first"], changed["second"] = 2, 1
    assert kex.derive_pair_key(a, kex.public_bytes(b), **changed) != base


def test_low_order_peer_key_is_refused() -> None:
    a, _ = _pair()
    with pytest.raises(CryptoError):
        kex.derive_pair_key(a, bytes(32), purpose=b"p", context=CTX, first=1, second=2)


def test_malformed_public_key_is_refused_before_use() -> None:
    with pytest.raises(DecryptionError):
        kex.load_public_key(bytes(31))


def test_envelope_round_trip_and_tampering() -> None:
    key = bytes(32)
    sealed = kex.seal_envelope(key, b"shares", b"aad")
    assert kex.open_envelope(key, sealed, b"aad") == b"shares"
    for bad in (sealed[:-1] + bytes([sealed[-1] ^ 1]), sealed[:10], b""):
        with pytest.raises(DecryptionError):
            kex.open_envelope(key, bad, b"aad")
    with pytest.raises(DecryptionError):
        kex.open_envelope(key, sealed, b"other aad")
    with pytest.raises(DecryptionError):
        kex.open_envelope(bytes(31) + b"\x01", sealed, b"aad")


def test_envelopes_use_fresh_nonces() -> None:
    key = bytes(32)
    assert kex.seal_envelope(key, b"m", b"") != kex.seal_envelope(key, b"m", b"")
