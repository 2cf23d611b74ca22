"""An independent implementation (pycryptodome, pure Python;
``tests/crypto/vectors/verify_vectors.py``) reproduces every known-answer vector; the
per-primitive files test blindsum against them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

VECTORS = Path(__file__).parent / "vectors"


def test_independent_implementation_agrees_with_every_vector() -> None:
    spec = importlib.util.spec_from_file_location("verify_vectors", VECTORS / "verify_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.verify_all() >= 70
