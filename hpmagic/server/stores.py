"""The study stores a Jupyter server can show: found under its root, confined to it, watched cheaply.

Every store is opened read-only through ``Storage.open_read_only`` and kept open. Whether anything changed is
decided first by the ``stat`` of the store's file and its write-ahead log (no SQL at all), then by the store's
``change_marker``; only a store whose marker moved is summarised again. A store that is corrupt, of a newer schema,
locked or gone becomes an error entry: the others go on being served.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpmagic.errors import StorageError
from hpmagic.known_stores import known_stores
from hpmagic.storage import Storage

__all__ = ["PathError", "StoreIndex", "confine"]

# Folders never searched for stores: tools' and environments' own trees.
_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", ".git", ".ipynb_checkpoints", ".venv", "venv"}


class PathError(ValueError):
    """A client path that is absolute, climbs out with ``..``, or resolves outside the server's root."""


def confine(root: Path, relative: str) -> Path:
    """The real path of ``relative`` (a client's path, relative to ``root``), refused unless it stays inside root.

    Absolute paths and ``..`` are refused as given; symbolic links are resolved first, so a link that points out
    of the root is refused too.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise PathError("a store path is required")
    text = relative.replace("\\", "/")
    if text.startswith("/") or os.path.isabs(text) or (len(text) > 1 and text[1] == ":"):
        raise PathError(f"store paths are relative to the server's root, got {relative!r}")
    if any(part == ".." for part in text.split("/")):
        raise PathError(f"store paths may not contain '..', got {relative!r}")
    real_root = root.resolve()
    target = (real_root / text).resolve()
    if target != real_root and real_root not in target.parents:
        raise PathError(f"{relative!r} is outside the server's root")
    return target


def _signature(path: Path) -> tuple[Any, ...] | None:
    """What changes on every commit: the store's and its WAL's inode, size and modification time (None: gone)."""
    try:
        st = path.stat()
    except OSError:
        return None
    try:
        wal = os.stat(f"{path}-wal")
        wal_sig: tuple[int, int] = (wal.st_size, wal.st_mtime_ns)
    except OSError:
        wal_sig = (0, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns, *wal_sig)


@dataclass
class StoreEntry:
    """One store: where it is, its open read-only connection, and its last summaries (or why it has none)."""

    path: Path
    rel: str
    pinned: bool = False
    signature: tuple[Any, ...] | None = ("unread",)
    marker: str | None = None
    storage: Storage | None = None
    studies: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    checked_at: float = 0.0

    def close(self) -> None:
        if self.storage is not None:
            try:
                self.storage.close()
            except Exception:  # noqa: BLE001 - a broken connection is being dropped anyway
                pass
            self.storage = None

    def as_json(self) -> dict[str, Any]:
        return {"path": self.rel, "error": self.error, "studies": self.studies}


class StoreIndex:
    """All stores under one root: discovery, refresh, and a token that changes when anything shown changes.

    Thread-safe: handlers call it from the event loop and from worker threads.
    """

    def __init__(
        self,
        root: Path,
        *,
        store_names: tuple[str, ...] = ("hpmagic.db",),
        max_depth: int = 6,
        max_dirs: int = 5000,
        discover_every: float = 5.0,
        retry_errors_every: float = 5.0,
    ) -> None:
        self.root = root.resolve()
        self.store_names = store_names
        self.max_depth = max_depth
        self.max_dirs = max_dirs
        self.discover_every = discover_every
        self.retry_errors_every = retry_errors_every
        self._entries: dict[str, StoreEntry] = {}
        self._lock = threading.RLock()
        self._discovered_at = -1e9
        self._boot = uuid.uuid4().hex[:8]
        self._version = 0
        self._refreshed_at = -1e9

    # -- paths -------------------------------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        """A client's store path, confined to the root."""
        return confine(self.root, relative)

    # -- discovery and refresh ---------------------------------------------------------------------------------------

    def discover(self) -> list[Path]:
        """Walk the root (hidden and environment folders skipped, depth and size bounded) for store files."""
        found: list[Path] = []
        seen = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            seen += 1
            depth = len(Path(dirpath).relative_to(self.root).parts)
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS and depth < self.max_depth
            )
            for name in filenames:
                if name in self.store_names:
                    path = Path(dirpath) / name
                    # A symlinked store file is followed only when it stays inside the root.
                    try:
                        found.append(confine(self.root, self.rel(path)))
                    except PathError:
                        continue
            if seen >= self.max_dirs:
                break
        # Stores the user wrote to under other names (--storage, %config TuneMagics.storage), inside the root.
        for path in known_stores():
            try:
                confined = confine(self.root, self.rel(path.resolve()))
            except (PathError, ValueError):
                continue
            if confined not in found:
                found.append(confined)
        return found

    def pin(self, relative: str) -> str:
        """Add a store named by the user (settings); returns its path relative to the root."""
        path = self.resolve(relative)
        rel = self.rel(path)
        with self._lock:
            entry = self._entries.get(rel)
            if entry is None:
                self._entries[rel] = StoreEntry(path=path, rel=rel, pinned=True)
                self._version += 1
            else:
                entry.pinned = True
        return rel

    def refresh(self, *, force: bool = False) -> None:
        """Bring every entry up to date; cheap when nothing changed (a few ``stat`` calls)."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._refreshed_at < 0.2:
                return
            self._refreshed_at = now
            if force or now - self._discovered_at >= self.discover_every:
                self._discovered_at = now
                current = {self.rel(p): p for p in self.discover()}
                for rel, path in current.items():
                    if rel not in self._entries:
                        self._entries[rel] = StoreEntry(path=path, rel=rel)
                        self._version += 1
                for rel, entry in list(self._entries.items()):
                    if rel not in current and not entry.pinned and not entry.path.exists():
                        entry.close()
                        del self._entries[rel]
                        self._version += 1
            for entry in self._entries.values():
                if self._refresh_entry(entry, now):
                    self._version += 1

    def _refresh_entry(self, entry: StoreEntry, now: float) -> bool:
        """Re-read one store if its files changed (or its error is due a retry); True if what it shows changed."""
        signature = _signature(entry.path)
        retry = entry.error is not None and now - entry.checked_at >= self.retry_errors_every
        if signature == entry.signature and not retry:
            return False
        before = (entry.error, entry.marker)
        entry.checked_at = now
        if signature is None:
            entry.close()
            entry.signature, entry.marker, entry.studies = None, None, []
            entry.error = "the store file is gone"
            return before != (entry.error, entry.marker)
        if entry.signature not in (None, ("unread",)) and signature[0] != entry.signature[0]:
            entry.close()  # replaced by another file: the open connection still reads the old one
        entry.signature = signature
        try:
            if entry.storage is None:
                entry.storage = Storage.open_read_only(entry.path)
            marker = entry.storage.change_marker()
            if marker != entry.marker or entry.error is not None:
                entry.studies = [self._with_notebook(s) for s in entry.storage.study_summaries()]
                entry.marker = marker
            entry.error = None
        except StorageError as exc:
            entry.close()
            entry.marker, entry.studies, entry.error = None, [], self._relative(str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad store must never break the others
            entry.close()
            entry.marker, entry.studies, entry.error = None, [], self._relative(f"cannot read this store: {exc}")
        return before != (entry.error, entry.marker)

    def _relative(self, message: str) -> str:
        """An error message with the server's own folders left out: paths as the client names them."""
        return message.replace(str(self.root) + os.sep, "").replace(str(self.root), ".")

    def _with_notebook(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The study's notebook as a path relative to the root; a notebook outside it shows as its file name only."""
        notebook = summary.get("notebook")
        if notebook:
            path = Path(notebook)
            if path.is_absolute():
                try:
                    notebook = path.resolve().relative_to(self.root).as_posix()
                except (ValueError, OSError):
                    notebook = path.name
            summary["notebook"] = notebook
        return summary

    # -- answers -----------------------------------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """Changes whenever a store appears, goes, fails, or any of its studies changes."""
        return f"{self._boot}-{self._version}"

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            stores = [self._entries[k].as_json() for k in sorted(self._entries)]
            return {"token": self.token, "root": self.root.name, "stores": stores}

    def entry(self, relative: str) -> StoreEntry:
        """The entry of a client's store path (added as pinned if it is an existing file the walk did not find).

        Raises PathError for a path outside the root and FileNotFoundError for one that is neither known nor a file.
        """
        rel = self._lookup(relative)
        if rel is None:
            if not self.resolve(relative).is_file():
                raise FileNotFoundError(relative)
            rel = self.pin(relative)
        with self._lock:
            entry = self._entries[rel]
            self._refresh_entry(entry, time.monotonic())
            return entry

    def _lookup(self, relative: str) -> str | None:
        rel = self.rel(self.resolve(relative))
        with self._lock:
            return rel if rel in self._entries else None

    def study_marker(self, relative: str, study_id: int) -> str:
        """What changes when this study (or its control request) changes, or when its store fails."""
        entry = self.entry(relative)
        with self._lock:
            if entry.error is not None:
                return f"error:{entry.error}"
            for s in entry.studies:
                if s["id"] == study_id:
                    return f"{s['updated_at']!r}:{s['n_trials']}:{s['control']}:{s['name']}:{s['state']}"
            return "missing"

    def close(self) -> None:
        with self._lock:
            for entry in self._entries.values():
                entry.close()
            self._entries.clear()
