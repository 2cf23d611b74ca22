"""Known-answer vectors for fixed-point encoding with stochastic rounding
(``tests/crypto/vectors/fixedpoint/quantize.json``), checked independently by
``tests/crypto/vectors/verify_vectors.py`` (pure-Python float64 arithmetic, pycryptodome
ChaCha20)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from blindsum.crypto.hazmat.csprng import Csprng
from blindsum.crypto.hazmat.fixedpoint import FixedPointCodec, clip_to_norm


def _vector_loader() -> ModuleType:
    path = Path(__file__).resolve().parent / "vectors" / "loader.py"
    spec = importlib.util.spec_from_file_location("blindsum_test_vectors_loader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vectors = _vector_loader()
QUANTIZE = "fixedpoint/quantize.json"


def _codec(vector) -> FixedPointCodec:
    return FixedPointCodec.create(bits=vector["bits"], clip_norm=vector["clip_norm"],
                                  max_clients=vector["max_clients"])


def _hex(values: np.ndarray) -> list[str]:
    return [float(v).hex() for v in values]


@vectors.json_parametrize(QUANTIZE)
def test_codec_scale(vector) -> None:
    assert _codec(vector).scale.hex() == vector["scale"]


@vectors.json_parametrize(QUANTIZE)
def test_csprng_stream(vector) -> None:
    key, n = bytes.fromhex(vector["rng_key"]), len(vector["update"])
    words = np.frombuffer(Csprng(key).random_bytes(4 * n), dtype="<u4")
    assert [int(w) for w in words] == vector["rng_words"]
    expected = np.array(vector["rng_words"], dtype=np.float64) / 2**32
    np.testing.assert_array_equal(Csprng(key).uniform(n), expected)


@vectors.json_parametrize(QUANTIZE)
def test_clip_to_norm(vector) -> None:
    clipped = clip_to_norm(np.array(vector["update"]), vector["clip_norm"])
    assert _hex(clipped) == vector["clipped"]


@vectors.json_parametrize(QUANTIZE)
def test_quantize(vector) -> None:
    codec = _codec(vector)
    words = codec.quantize(np.array(vector["update"]), Csprng(bytes.fromhex(vector["rng_key"])))
    assert words.dtype == codec.dtype
    assert [int(w) for w in words] == vector["words"]


@vectors.json_parametrize(QUANTIZE)
def test_dequantize_sum_of_one(vector) -> None:
    codec = _codec(vector)
    decoded = codec.dequantize_sum(np.array(vector["words"], dtype=codec.dtype), 1)
    assert _hex(decoded) == vector["decoded"]


def test_vectors_are_current() -> None:
    assert vectors.stale_files(QUANTIZE) == [], (
        "fixed-point encoding no longer reproduces its checked vectors: if the change is "
        "intended, run tests/crypto/vectors/generate_vectors.py and then verify_vectors.py")
