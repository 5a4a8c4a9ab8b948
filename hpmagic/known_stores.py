"""The study stores this user has written to, remembered in one small file, so the JupyterLab extension lists a store
that ``%config TuneMagics.storage`` or ``--storage`` named (say ``experiments/runs.db``) with no set-up.

The file is ``$XDG_DATA_HOME/hpmagic/stores.txt`` (``~/.local/share/hpmagic/stores.txt``): one absolute path a line,
most recent last, at most a few hundred. Remembering never fails a study: a read-only home just means no entry.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["known_stores", "remember_store"]

_MAX = 500


def _file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "hpmagic" / "stores.txt"


def known_stores() -> list[Path]:
    """The remembered stores that still exist, most recent last."""
    try:
        lines = _file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [Path(line) for line in lines if line.strip() and os.path.isfile(line)]


def remember_store(path: str | os.PathLike[str]) -> None:
    """Add a store file to the list (moved to the end if it is there already)."""
    try:
        target = str(Path(path).resolve())
        file = _file()
        lines = file.read_text(encoding="utf-8").splitlines() if file.exists() else []
        if lines and lines[-1] == target:
            return
        lines = [line for line in lines if line != target] + [target]
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("\n".join(lines[-_MAX:]) + "\n", encoding="utf-8")
    except (OSError, ValueError):
        pass  # a read-only or odd home: the extension just will not list this store by itself
