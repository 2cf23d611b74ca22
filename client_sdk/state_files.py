"""Client state on disk: JSON written so that a crash leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from blindsum.errors import ConfigError

__all__ = ["check_writable", "read_private_json", "write_json_atomically"]


def write_json_atomically(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` as JSON, readable by the owner only, fsynced before the
    rename (and the directory after it), so the new content is durable when this returns."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_private_json(path: Path, what: str) -> Any:
    """The JSON in ``path``, a file only its owner may read; any problem is a ConfigError
    that names the file and says what to do."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path} ({exc.strerror}); enroll first, or "
                          "check the path") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds private keys and a token but others may read it; "
                          f"run: chmod 600 {path}")
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(f"{path} is not {what} (not JSON)") from None


def check_writable(path: Path) -> None:
    """Refuse, before an invite is spent, a state file that could not be written."""
    if path.exists():
        raise ConfigError(f"{path} already exists: load it, or choose another file (an "
                          "invite can be used only once)")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: {directory} is not a writable directory "
                          "(the invite was not spent)")
