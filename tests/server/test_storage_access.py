"""What the server needs from the store: read-only opening, the change marker, summaries, control requests."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest

from hpmagic import Storage, StorageError
from hpmagic.space import Float, Space
from hpmagic.storage import SCHEMA_VERSION
from hpmagic.trial import Trial, TrialState


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_study(store: Storage, name: str = "s") -> int:
    return store.create_study(name, direction="minimize", strategy="random", seed=0, space=Space({"x": Float(0, 1)})).id


def add(store: Storage, sid: int, number: int, value: float | None) -> None:
    now = time.time()
    state = TrialState.COMPLETE if value is not None else TrialState.FAILED
    store.add_trial(sid, Trial(number=number, params={"x": 0.5}, state=state, value=value, started_at=now))


def test_control_requests_round_trip_and_clear(tmp_path: Path) -> None:
    store = Storage(tmp_path / "s.db")
    sid = new_study(store)
    assert store.get_control(sid) is None
    for action in ("stop", "pause", "resume"):
        store.set_control(sid, action)
        assert store.get_control(sid) == action
    store.set_control(sid, None)
    assert store.get_control(sid) is None
    with pytest.raises(StorageError, match="one of stop, pause, resume"):
        store.set_control(sid, "explode")
    store.close()


def test_control_requests_reach_another_connection(tmp_path: Path) -> None:
    """The server writes through one connection; the kernel's loop reads through its own."""
    kernel = Storage(tmp_path / "s.db")
    sid = new_study(kernel)
    server = Storage(tmp_path / "s.db")
    server.set_control(sid, "stop")
    assert kernel.get_control(sid) == "stop"
    kernel.set_control(sid, None)
    assert server.get_control(sid) is None
    kernel.close()
    server.close()


def test_schema_1_store_opens_read_only_as_is_and_is_upgraded_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = Storage(path)
    sid = new_study(store)
    add(store, sid, 0, 1.0)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE controls")
    conn.execute("UPDATE hpmagic_meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = digest(path)
    reader = Storage.open_read_only(path)
    assert reader.get_control(sid) is None and reader.study_summaries()[0]["n_complete"] == 1
    reader.change_marker()
    reader.close()
    assert digest(path) == before
    writer = Storage(path)
    writer.set_control(sid, "pause")
    writer.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM hpmagic_meta WHERE key = 'schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
    conn.close()


def test_read_only_open_never_creates_nor_writes(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        Storage.open_read_only(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    path = tmp_path / "s.db"
    store = Storage(path)
    sid = new_study(store)
    store.close()
    reader = Storage.open_read_only(path)
    with pytest.raises(StorageError):
        reader.set_control(sid, "stop")
    with pytest.raises(StorageError):
        reader.rename_study(sid, "other")
    reader.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_change_marker_moves_on_every_write_kind(tmp_path: Path) -> None:
    store = Storage(tmp_path / "s.db")
    reader = Storage.open_read_only(tmp_path / "s.db")
    last = [reader.change_marker()]

    def changed() -> bool:
        marker = reader.change_marker()
        fresh = marker != last[-1]
        last.append(marker)
        return fresh

    sid = new_study(store)
    assert changed()
    time.sleep(0.01)
    add(store, sid, 0, 2.0)
    assert changed()
    store.set_control(sid, "stop")
    assert changed()
    time.sleep(0.01)
    store.rename_study(sid, "renamed")
    assert changed()
    other = new_study(store, "other")
    store.set_study_state(other, "finished")
    assert changed()
    store.delete_study(other)
    assert changed()
    assert not changed()
    reader.close()
    store.close()


def test_summaries_and_pages(tmp_path: Path) -> None:
    store = Storage(tmp_path / "s.db")
    sid = new_study(store)
    for i, v in enumerate([3.0, None, 1.0, 2.0]):
        add(store, sid, i, v)
    (row,) = store.study_summaries()
    assert (row["n_trials"], row["n_complete"], row["n_failed"], row["best_value"]) == (4, 3, 1, 1.0)
    assert store.study_summaries(updated_since=time.time() + 10) == []
    total, rows = store.trial_page(sid, sort="value", descending=True, limit=10)
    assert total == 4 and [r["value"] for r in rows] == [3.0, 2.0, 1.0, None]
    total, rows = store.trial_page(sid, sort="value", offset=1, limit=2)
    assert [r["value"] for r in rows] == [2.0, 3.0]
    assert store.trial_detail(sid, 0)["params"] == {"x": 0.5}
    assert store.trial_detail(sid, 99) is None
    with pytest.raises(StorageError, match="running"):
        store.delete_study(sid)  # a new study is running until its loop ends
    store.set_study_state(sid, "finished")
    store.delete_study(sid)
    assert store.study_summaries() == [] and store.trial_page(sid)[0] == 0
    store.close()
