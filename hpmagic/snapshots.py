"""Training-state snapshots: what lets a promoted, resumed or cloned trial continue instead of starting over.

At each ``tune.report`` the engine pickles the trial's state variables (``--state clf,opt``) and keeps the latest
snapshot of each trial. Snapshots live in memory up to ``memory_limit`` bytes; beyond that the oldest are spilled to
files in ``spill_dir`` (a temporary folder by default), and read back when needed.

Limits: the state must be picklable (scikit-learn estimators, NumPy arrays and most Python objects are); only the
latest snapshot of each trial is kept; in-memory snapshots do not survive a kernel restart, so after one a promoted
trial retrains from scratch to its larger budget (the results stay correct, only the saving is lost).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import threading
from collections import OrderedDict
from typing import Any

__all__ = ["SnapshotStore"]

_DEFAULT_LIMIT = 512 * 1024 * 1024


class SnapshotStore:
    """Latest pickled state per trial, bounded in memory, spilling to disk."""

    def __init__(self, memory_limit: int = _DEFAULT_LIMIT, spill_dir: str | None = None) -> None:
        self.memory_limit = memory_limit
        self._spill_dir = spill_dir
        self._own_dir = False
        self._memory: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._on_disk: dict[int, tuple[int, str]] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.spilled = 0

    def save(self, trial_number: int, step: int, state: dict[str, Any]) -> None:
        """Keep ``state`` (pickled now, so later changes to the objects do not leak in) as the trial's latest."""
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._forget(trial_number)
            self._memory[trial_number] = (step, data)
            self._bytes += len(data)
            while self._bytes > self.memory_limit and len(self._memory) > 1:
                self._spill_oldest()

    def load(self, trial_number: int) -> tuple[int, dict[str, Any]] | None:
        """``(step, state)`` of the trial's latest snapshot, as fresh objects, or None."""
        with self._lock:
            if trial_number in self._memory:
                step, data = self._memory[trial_number]
            elif trial_number in self._on_disk:
                step, path = self._on_disk[trial_number]
                with open(path, "rb") as fh:
                    data = fh.read()
            else:
                return None
        return step, pickle.loads(data)

    def raw(self, trial_number: int) -> tuple[int, bytes] | None:
        """``(step, pickled state)`` of the trial's latest snapshot, to send to another process, or None."""
        with self._lock:
            if trial_number in self._memory:
                return self._memory[trial_number]
            if trial_number in self._on_disk:
                step, path = self._on_disk[trial_number]
                with open(path, "rb") as fh:
                    return step, fh.read()
        return None

    def put_raw(self, trial_number: int, step: int, data: bytes) -> None:
        """Keep a snapshot pickled elsewhere (a trial that ran on a Dask worker) as the trial's latest."""
        with self._lock:
            self._forget(trial_number)
            self._memory[trial_number] = (step, data)
            self._bytes += len(data)
            while self._bytes > self.memory_limit and len(self._memory) > 1:
                self._spill_oldest()

    def __contains__(self, trial_number: object) -> bool:
        return trial_number in self._memory or trial_number in self._on_disk

    def __len__(self) -> int:
        return len(self._memory) + len(self._on_disk)

    def drop(self, trial_number: int) -> None:
        """Forget a trial's snapshot (its scheduler will never continue it), in memory and on disk."""
        with self._lock:
            self._forget(trial_number)

    def close(self) -> None:
        """Delete the spill folder if this store made it."""
        with self._lock:
            self._memory.clear()
            self._on_disk.clear()
            self._bytes = 0
            if self._own_dir and self._spill_dir:
                shutil.rmtree(self._spill_dir, ignore_errors=True)

    def _forget(self, trial_number: int) -> None:
        old = self._memory.pop(trial_number, None)
        if old is not None:
            self._bytes -= len(old[1])
        spilled = self._on_disk.pop(trial_number, None)
        if spilled is not None:
            try:
                os.remove(spilled[1])
            except OSError:
                pass

    def _spill_oldest(self) -> None:
        number, (step, data) = self._memory.popitem(last=False)
        self._bytes -= len(data)
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="hpmagic-snapshots-")
            self._own_dir = True
        os.makedirs(self._spill_dir, exist_ok=True)
        path = os.path.join(self._spill_dir, f"trial-{number}.pkl")
        with open(path, "wb") as fh:
            fh.write(data)
        self._on_disk[number] = (step, path)
        self.spilled += 1
