"""What the CLI's command modules share: the two consoles and an installed-module check."""

from __future__ import annotations

import importlib.util

from rich.console import Console

__all__ = ["console", "module_installed", "out"]

console = Console(stderr=True)
out = Console()


def module_installed(name: str) -> bool:
    """Whether an optional dependency is importable (without importing it)."""
    return importlib.util.find_spec(name) is not None
