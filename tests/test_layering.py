"""Architecture guards: the dependency direction of DESIGN.md, and quiet package inits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import blindsum

ROOT = Path(blindsum.__file__).parent
# package -> blindsum packages it may import (besides itself and errors)
ALLOWED = {
    "crypto": set(),
    "wire": {"crypto"},
    "aggregator": {"crypto", "wire"},
    "client_sdk": {"crypto", "wire"},
    "benchmarks": {"crypto", "wire", "client_sdk"},
    "api": {"crypto", "wire", "aggregator", "client_sdk", "benchmarks", "demo"},
    "demo": {"crypto", "wire", "client_sdk", "benchmarks"},
}


def _blindsum_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "blindsum" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layers(package) -> None:
    for path in _modules(package):
        imported = _blindsum_imports(path) - {package, "errors", "accounting"}
        assert imported <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {imported}"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names}


@pytest.mark.parametrize("package", ["api", "aggregator", "client_sdk", "demo", "benchmarks"])
def test_only_crypto_touches_hazmat(package) -> None:
    """Outside crypto, keys come from crypto.identity, randomness from crypto.randomness, and
    signatures from the protocol module that owns the statement (never raw sign/verify)."""
    for path in _modules(package):
        hazmat = {m for m in _imported_modules(path) if m.startswith("blindsum.crypto.hazmat")}
        assert not hazmat, f"{path.relative_to(ROOT)} imports {hazmat}"


def test_errors_is_a_leaf() -> None:
    assert _blindsum_imports(ROOT / "errors.py") == set()
    assert _blindsum_imports(ROOT / "accounting.py") == {"errors"}


def test_only_the_entry_point_imports_api() -> None:
    for path in ROOT.glob("*.py"):
        if path.name != "__main__.py":
            assert "api" not in _blindsum_imports(path), path.name


def test_package_inits_only_reexport() -> None:
    """No import-time registration or side effects: imports, __all__, docstring, constants."""
    for path in [ROOT / "__init__.py", *ROOT.glob("*/__init__.py"), *ROOT.glob("*/*/__init__.py")]:
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            ok = isinstance(node, ast.Import | ast.ImportFrom | ast.Assign) or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            assert ok, f"{path.relative_to(ROOT)} does work at import time"


def test_heavy_dependencies_stay_lazy() -> None:
    """The CLI and the crypto core import neither torch, tenseal nor opacus at module level."""
    heavy = {"torch", "tenseal", "opacus", "peft", "transformers"}
    for path in [*_modules("crypto"), *_modules("api"), ROOT / "__main__.py"]:
        top = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import) else
               (n.module or "").split(".")[0]
               for n in ast.parse(path.read_text()).body
               if isinstance(n, ast.Import | ast.ImportFrom)}
        assert not top & heavy, path.name
