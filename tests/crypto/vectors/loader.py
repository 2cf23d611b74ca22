"""Helpers for tests that run over the known-answer vector files (pyca/cryptography style).

The test files load this module by path (``tests/`` is not a package and runs
with ``--import-mode=importlib``)::

    spec = importlib.util.spec_from_file_location(
        "blindsum_test_vectors_loader", Path(__file__).parent / "vectors" / "loader.py")
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

VECTORS_DIR = Path(__file__).resolve().parent


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The vectors of ``tests/crypto/vectors/<name>`` (e.g. ``"prg/masks.json"``)."""
    vectors = json.loads((VECTORS_DIR / name).read_text())
    if not isinstance(vectors, list) or not vectors:
        raise ValueError(f"{name} holds no vectors")
    return vectors


def json_parametrize(
    name: str,
    argname: str = "vector",
    *,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> pytest.MarkDecorator:
    """``pytest.mark.parametrize`` over the vectors of one file (those ``where`` accepts).

    Ids are ``<index in the file>-<vector name>``, so a failure names the vector.
    """
    chosen = [(i, v) for i, v in enumerate(load_vectors(name)) if where is None or where(v)]
    if not chosen:
        raise ValueError(f"no vector of {name} is selected")
    ids = [f"{i}-{v.get('name', '')}".rstrip("-").replace("/", "_") for i, v in chosen]
    return pytest.mark.parametrize(argname, [v for _, v in chosen], ids=ids)


def load_generator() -> ModuleType:
    """``generate_vectors.py`` as a module (cached: the test files share one copy)."""
    module_name = "blindsum_test_vectors_generate"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name,
                                                      VECTORS_DIR / "generate_vectors.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return module


def stale_files(*names: str) -> list[str]:
    """The given vector files whose contents are not what the generator produces now."""
    unknown = set(names) - set(load_generator().GENERATORS)
    if unknown:
        raise ValueError(f"no generator for {sorted(unknown)}")
    stale: list[str] = load_generator().stale_files(list(names))
    return stale
