"""Known-answer vectors for X25519 + HKDF pair keys and AES-GCM envelopes
(``tests/crypto/vectors/kex/*.json``), checked independently by
``tests/crypto/vectors/verify_vectors.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from blindsum.crypto.hazmat import kex
from blindsum.errors import DecryptionError


def _vector_loader() -> ModuleType:
    path = Path(__file__).resolve().parent / "vectors" / "loader.py"
    spec = importlib.util.spec_from_file_location("blindsum_test_vectors_loader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vectors = _vector_loader()
HKDF = "kex/hkdf.json"
ENVELOPE = "kex/envelope.json"
ENVELOPE_INVALID = "kex/envelope_invalid.json"


@vectors.json_parametrize(HKDF)
def test_x25519_keys_and_shared_secret(vector) -> None:
    a = kex.load_private_key(bytes.fromhex(vector["private_a"]))
    b = kex.load_private_key(bytes.fromhex(vector["private_b"]))
    assert kex.private_bytes(a).hex() == vector["private_a"]
    assert kex.public_bytes(a).hex() == vector["public_a"]
    assert kex.public_bytes(b).hex() == vector["public_b"]
    assert kex.public_bytes(a.public_key()).hex() == vector["public_a"]
    for mine, theirs in ((a, vector["public_b"]), (b, vector["public_a"])):
        shared = mine.exchange(kex.load_public_key(bytes.fromhex(theirs)))
        assert shared.hex() == vector["shared_secret"]


@vectors.json_parametrize(HKDF)
def test_hkdf_info_and_pair_key(vector) -> None:
    purpose, context = bytes.fromhex(vector["purpose"]), bytes.fromhex(vector["context"])
    info = kex.hkdf_info(purpose, context, vector["first"], vector["second"])
    assert info.hex() == vector["info"]
    a = kex.load_private_key(bytes.fromhex(vector["private_a"]))
    b = kex.load_private_key(bytes.fromhex(vector["private_b"]))
    # Both ends of the pair derive the same key.
    for mine, theirs in ((a, vector["public_b"]), (b, vector["public_a"])):
        key = kex.derive_pair_key(mine, bytes.fromhex(theirs), purpose=purpose, context=context,
                                  first=vector["first"], second=vector["second"])
        assert key.hex() == vector["key"]


@vectors.json_parametrize(ENVELOPE)
def test_envelope_seal_and_open(vector) -> None:
    key, aad = bytes.fromhex(vector["key"]), bytes.fromhex(vector["aad"])
    plaintext = bytes.fromhex(vector["plaintext"])
    sealed = kex.seal_envelope_with_nonce(key, bytes.fromhex(vector["nonce"]), plaintext, aad)
    assert sealed.hex() == vector["sealed"]
    assert kex.open_envelope(key, bytes.fromhex(vector["sealed"]), aad) == plaintext


@vectors.json_parametrize(ENVELOPE_INVALID)
def test_tampered_envelope_is_refused(vector) -> None:
    with pytest.raises(DecryptionError):
        kex.open_envelope(bytes.fromhex(vector["key"]), bytes.fromhex(vector["sealed"]),
                          bytes.fromhex(vector["aad"]))


def test_vectors_are_current() -> None:
    assert vectors.stale_files(HKDF, ENVELOPE, ENVELOPE_INVALID) == [], (
        "key agreement or envelopes no longer reproduce their checked vectors: if the change "
        "is intended, run tests/crypto/vectors/generate_vectors.py and then verify_vectors.py")
