"""Known-answer vectors for the mask PRG (``tests/crypto/vectors/prg/masks.json``).

The vectors come from ``tests/crypto/vectors/generate_vectors.py`` and were checked by
an independent implementation (pycryptodome) in ``tests/crypto/vectors/verify_vectors.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from blindsum.crypto.hazmat.prg import MaskExpander, PrgAlgorithm, mask_from_seed


def _vector_loader() -> ModuleType:
    path = Path(__file__).resolve().parent / "vectors" / "loader.py"
    spec = importlib.util.spec_from_file_location("blindsum_test_vectors_loader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vectors = _vector_loader()
MASKS = "prg/masks.json"


def _assert_is_vector_mask(mask: np.ndarray, vector) -> None:
    assert mask.dtype == np.dtype(vector["dtype"])
    assert mask.shape == (vector["length"],)
    data = mask.astype(mask.dtype.newbyteorder("<")).tobytes()
    if "mask_le" in vector:
        assert data.hex() == vector["mask_le"]
    else:
        assert hashlib.sha256(data).hexdigest() == vector["mask_sha256"]
        assert [int(w) for w in mask[:8]] == vector["first_words"]


def _arguments(vector):
    return bytes.fromhex(vector["seed"]), bytes.fromhex(vector["domain"])


@vectors.json_parametrize(MASKS)
def test_mask_from_seed(vector) -> None:
    seed, domain = _arguments(vector)
    mask = mask_from_seed(seed, vector["length"], domain=domain, dtype=vector["dtype"],
                          algorithm=PrgAlgorithm(vector["algorithm"]))
    _assert_is_vector_mask(mask, vector)


@vectors.json_parametrize(MASKS)
def test_mask_expander_writes_adds_and_subtracts_the_vector_mask(vector) -> None:
    """The in-place paths SecAgg uses (``expand(out=...)``, ``add``, ``subtract``)."""
    seed, domain = _arguments(vector)
    dtype, length = np.dtype(vector["dtype"]), vector["length"]
    expander = MaskExpander(length, dtype=dtype, algorithm=PrgAlgorithm(vector["algorithm"]))
    out = np.full(length, 7, dtype=dtype)
    assert expander.expand(seed, domain=domain, out=out) is out
    _assert_is_vector_mask(out, vector)

    acc = np.zeros(length, dtype=dtype)
    expander.add(acc, seed, domain=domain)
    _assert_is_vector_mask(acc, vector)
    start = np.arange(length, dtype=dtype)
    acc = start.copy()
    expander.add(acc, seed, domain=domain)
    expander.subtract(acc, seed, domain=domain)
    np.testing.assert_array_equal(acc, start)


def test_vectors_are_current() -> None:
    assert vectors.stale_files(MASKS) == [], (
        "the PRG no longer reproduces its checked vectors: if the change is intended, run "
        "tests/crypto/vectors/generate_vectors.py and then tests/crypto/vectors/verify_vectors.py")
