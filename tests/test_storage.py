"""The SQLite study store, on real files: format, round trips, naming, crash safety, and refusing bad files."""

from __future__ import annotations

import hashlib
import json
import math
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpmagic.errors import StorageError
from hpmagic.space import Categorical, Float, Int, Space, choice_key
from hpmagic.storage import (
    SCHEMA_VERSION,
    Storage,
    decode_params,
    encode_params,
    open_storage,
    space_from_json,
    space_to_json,
)
from hpmagic.trial import Trial, TrialState


class Marker:
    """A class used as a choice: JSON cannot hold it, so the store keeps its index."""


CHOICES: tuple[Any, ...] = ("adam", (1, 2), Marker, None, 3)


def make_space() -> Space:
    return Space(
        {
            "lr": Float(1e-4, 1.0, True),
            "depth": Int(1, 10),
            "opt": Categorical(CHOICES),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    s = Storage(tmp_path / "s.db")
    yield s
    s.close()


def new_study(store: Storage, name: str = "exp", direction: str = "minimize") -> int:
    return store.create_study(name, direction=direction, strategy="random", seed=1, space=make_space()).id


def finished(number: int, value: float | None, state: TrialState = TrialState.COMPLETE, **params: Any) -> Trial:
    now = time.time()
    return Trial(number=number, params=params, state=state, value=value, started_at=now, finished_at=now + 0.01)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def side_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


# -- format ----------------------------------------------------------------------------------------------------------


def test_new_file_uses_wal_and_records_the_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Storage(path).close()
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = other.execute("SELECT value FROM hpmagic_meta WHERE key = 'schema_version'").fetchone()
        assert row == (str(SCHEMA_VERSION),)
        tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"hpmagic_meta", "studies", "trials"} <= tables
    finally:
        other.close()


def test_reopening_an_existing_store_keeps_its_studies(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = Storage(path)
    new_study(first, "kept")
    first.close()
    again = Storage(path)
    try:
        record = again.get_study("kept")
        assert record is not None and record.strategy == "random"
    finally:
        again.close()


def test_memory_store_and_open_storage() -> None:
    mem = open_storage(None)
    assert mem.path == ":memory:"
    assert open_storage(mem) is mem
    sid = new_study(mem)
    mem.add_trial(sid, finished(0, 1.5, lr=0.1))
    assert [t.value for t in mem.load_trials(sid)] == [1.5]


def test_tilde_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = Storage("~/home.db")
    try:
        new_study(store)
    finally:
        store.close()
    assert (tmp_path / "home.db").is_file()
    assert not Path("~").exists()


# -- round trips -----------------------------------------------------------------------------------------------------


def test_study_round_trip(store: Storage) -> None:
    space = make_space()
    record = store.create_study(
        "rt",
        direction="maximize",
        strategy="bayes",
        seed=42,
        space=space,
        source="x = tune.uniform(0, 1)\nx",
        options={"n_trials": 5, "weird": Marker, "nan": math.nan},
    )
    by_id = store.get_study(record.id)
    by_name = store.get_study("rt")
    assert by_id == by_name == record
    assert (record.name, record.direction, record.strategy, record.seed, record.state) == (
        "rt",
        "maximize",
        "bayes",
        42,
        "running",
    )
    assert record.source == "x = tune.uniform(0, 1)\nx"
    assert record.options["n_trials"] == 5
    assert record.options["nan"] is None  # not stored as invalid JSON
    assert "Marker" in record.options["weird"]
    assert [e["name"] for e in record.space] == ["lr", "depth", "opt"]
    assert store.get_study("missing") is None
    assert store.get_study(9999) is None


def test_duplicate_study_name_is_refused(store: Storage) -> None:
    new_study(store, "dup")
    with pytest.raises(StorageError, match="already exists"):
        new_study(store, "dup")


def test_trial_params_round_trip_through_a_reopened_file(tmp_path: Path) -> None:
    path = tmp_path / "trials.db"
    space = make_space()
    store = Storage(path)
    sid = new_study(store)
    trials = []
    for i, choice in enumerate(CHOICES):
        t = Trial(
            number=i,
            params={"lr": 0.001 * (i + 1), "depth": i + 1, "opt": choice, "flag": i % 2 == 0, "tag": f"t{i}"},
            state=TrialState.COMPLETE,
            value=float(i) / 3,
            started_at=1000.0 + i,
            finished_at=1000.5 + i,
            error=None,
            stdout=f"out {i}\n",
            stderr=f"err {i}\n",
            intermediate=[(0, 1.0), (1, 0.5)],
            user_attrs={"i": i, "obj": Marker},
        )
        store.add_trial(sid, t, space)
        assert t.trial_id is not None
        trials.append(t)
    store.close()

    again = Storage(path)
    try:
        loaded = again.load_trials(sid, space)
        assert [t.number for t in loaded] == list(range(len(CHOICES)))
        for original, back in zip(trials, loaded, strict=True):
            assert back.params["opt"] is original.params["opt"] or back.params["opt"] == original.params["opt"]
            assert type(back.params["opt"]) is type(original.params["opt"])
            assert back.params["lr"] == original.params["lr"] and isinstance(back.params["lr"], float)
            assert back.params["depth"] == original.params["depth"] and isinstance(back.params["depth"], int)
            assert back.params["flag"] is original.params["flag"]
            assert back.params["tag"] == original.params["tag"]
            assert back.state is TrialState.COMPLETE
            assert back.value == original.value
            assert (back.started_at, back.finished_at) == (original.started_at, original.finished_at)
            assert (back.stdout, back.stderr) == (original.stdout, original.stderr)
            assert back.intermediate == [(0, 1.0), (1, 0.5)]
            assert back.user_attrs["i"] == original.user_attrs["i"]
            assert back.trial_id == original.trial_id
        # The class and the tuple come back as the very objects of the space.
        assert loaded[2].params["opt"] is Marker
        assert loaded[1].params["opt"] == (1, 2)
        assert loaded[3].params["opt"] is None

        # Without the space, objects JSON cannot hold come back as their repr (enough to display them).
        bare = again.load_trials(sid)
        assert bare[1].params["opt"] == repr((1, 2))
        assert bare[2].params["opt"] == repr(Marker)
        assert bare[0].params["opt"] == "adam"
    finally:
        again.close()


def test_objects_are_stored_as_index_and_repr(tmp_path: Path) -> None:
    path = tmp_path / "enc.db"
    store = Storage(path)
    sid = new_study(store)
    store.add_trial(sid, finished(0, 1.0, opt=Marker), make_space())
    store.close()
    raw = sqlite3.connect(path).execute("SELECT params FROM trials").fetchone()[0]
    assert json.loads(raw) == {"opt": {"$choice": 2, "$key": choice_key(Marker), "$repr": repr(Marker)}}


def test_encode_decode_params_helpers() -> None:
    space = make_space()
    params = {"opt": (1, 2), "n": np.int64(7), "f": np.float32(0.5), "z": np.float64(2.25), "s": "x", "none": None}
    encoded = encode_params(params, space)
    json.dumps(encoded)  # JSON-ready
    assert encoded["opt"] == {"$choice": 1, "$key": "builtins.tuple:(1, 2)", "$repr": "(1, 2)"}
    assert encoded["n"] == 7 and type(encoded["n"]) is int
    assert encoded["f"] == 0.5 and type(encoded["f"]) is float
    decoded = decode_params(json.loads(json.dumps(encoded)), space)
    assert decoded == {"opt": (1, 2), "n": 7, "f": 0.5, "z": 2.25, "s": "x", "none": None}


def test_non_finite_values_are_stored_as_null(store: Storage) -> None:
    sid = new_study(store)
    t = finished(0, math.inf, TrialState.FAILED, lr=0.1)
    store.add_trial(sid, t)
    assert store.load_trials(sid)[0].value is None


def test_update_trial_overwrites_the_running_row(store: Storage) -> None:
    sid = new_study(store)
    t = Trial(number=0, params={"lr": 0.1})
    store.add_trial(sid, t)
    assert store.load_trials(sid)[0].state is TrialState.RUNNING
    t.state, t.value, t.finished_at, t.stdout = TrialState.COMPLETE, 0.25, time.time(), "done\n"
    store.update_trial(sid, t)
    (back,) = store.load_trials(sid)
    assert (back.state, back.value, back.stdout) == (TrialState.COMPLETE, 0.25, "done\n")


def test_space_json_round_trip() -> None:
    space = Space(
        {
            "lr": Float(1e-4, 1.0, True),
            "drop": Float(0.0, 0.5),
            "n": Int(1, 64, True),
            "opt": Categorical(("adam", None, 3, (1, 2))),
        }
    )
    entries = json.loads(json.dumps(space_to_json(space)))
    back = space_from_json(entries)
    assert list(back) == list(space)
    for name in space:
        if name != "opt":
            assert back[name].same_shape(space[name])
    assert back["opt"].choices == ("adam", None, 3, "(1, 2)")


# -- naming ----------------------------------------------------------------------------------------------------------


def test_unique_name_adds_a_counter(store: Storage) -> None:
    assert store.unique_name("exp") == "exp"
    new_study(store, "exp")
    assert store.unique_name("exp") == "exp (2)"
    new_study(store, "exp (2)")
    assert store.unique_name("exp") == "exp (3)"
    new_study(store, "exp (3)")
    new_study(store, "expo")
    new_study(store, "exp (x)")
    assert store.unique_name("exp") == "exp (4)"
    assert store.unique_name("expo") == "expo (2)"
    assert store.unique_name("other") == "other"


def test_unique_name_with_sql_wildcards(store: Storage) -> None:
    new_study(store, "50% _run")
    new_study(store, "50x aaun (2)")  # would match if % and _ were used unescaped in LIKE
    assert store.unique_name("50% _run") == "50% _run (2)"
    new_study(store, "50% _run (2)")
    assert store.unique_name("50% _run") == "50% _run (3)"


def test_latest_study_finds_the_newest_variant(store: Storage) -> None:
    assert store.latest_study("exp") is None
    new_study(store, "exp")
    assert store.latest_study("exp").name == "exp"  # type: ignore[union-attr]
    new_study(store, "exp (2)")
    new_study(store, "exp (3)")
    new_study(store, "expo")  # another base
    new_study(store, "exp (x)")  # not a variant
    new_study(store, "exp (3) (2)")  # a variant of 'exp (3)', not of 'exp'
    latest = store.latest_study("exp")
    assert latest is not None and latest.name == "exp (3)"
    assert store.latest_study("exp (3)").name == "exp (3) (2)"  # type: ignore[union-attr]


# -- trial states and summaries --------------------------------------------------------------------------------------


def test_mark_running_interrupted(store: Storage) -> None:
    sid = new_study(store, "a")
    other = new_study(store, "b")
    store.add_trial(sid, finished(0, 1.0, lr=0.1))
    store.add_trial(sid, Trial(number=1, params={"lr": 0.2}, started_at=123.0))
    store.add_trial(sid, Trial(number=2, params={"lr": 0.3}, started_at=124.0))
    store.add_trial(other, Trial(number=0))
    assert store.mark_running_interrupted(sid) == 0  # this connection is still running them (heartbeat)
    store._heartbeat.ids.clear()  # as after a crash of the loop that ran them
    assert store.mark_running_interrupted(sid) == 2
    states = [t.state for t in store.load_trials(sid)]
    assert states == [TrialState.COMPLETE, TrialState.INTERRUPTED, TrialState.INTERRUPTED]
    t1 = store.load_trials(sid)[1]
    assert t1.finished_at == 123.0 and t1.error and "stopped" in t1.error
    assert store.load_trials(other)[0].state is TrialState.RUNNING  # only that study
    assert store.mark_running_interrupted(sid) == 0


def test_list_studies_best_value_honours_direction(store: Storage) -> None:
    low = new_study(store, "low", "minimize")
    high = new_study(store, "high", "maximize")
    for sid in (low, high):
        store.add_trial(sid, finished(0, 3.0, lr=0.1))
        store.add_trial(sid, finished(1, -2.0, lr=0.2))
        store.add_trial(sid, finished(2, 7.0, lr=0.3))
        store.add_trial(sid, finished(3, None, TrialState.FAILED, lr=0.4))
        store.add_trial(sid, Trial(number=4))
    store.set_study_state(high, "finished")
    summary = {s["name"]: s for s in store.list_studies()}
    assert summary["low"]["best_value"] == -2.0
    assert summary["high"]["best_value"] == 7.0
    assert summary["high"]["state"] == "finished" and summary["low"]["state"] == "running"
    assert (summary["low"]["n_trials"], summary["low"]["n_complete"]) == (5, 3)
    assert [s["name"] for s in store.list_studies()] == ["high", "low"]  # newest first
    empty = new_study(store, "empty")
    assert empty and store.list_studies()[0]["best_value"] is None


def test_best_value_of(store: Storage) -> None:
    old = new_study(store, "old", "maximize")
    store.add_trial(old, finished(0, 1.0, lr=0.1, extra=5))
    store.add_trial(old, finished(1, 9.0, lr=0.2, extra=6))
    store.add_trial(old, finished(2, 20.0, TrialState.FAILED, lr=0.9, extra=7))
    assert store.best_value_of("extra") == (True, 6)
    new = new_study(store, "new", "minimize")
    store.add_trial(new, finished(0, 1.0, lr=0.5))
    store.add_trial(new, finished(1, 0.5, lr=0.7))
    assert store.best_value_of("lr") == (True, 0.7)  # newest study, smallest value
    assert store.best_value_of("extra") == (True, 6)  # the newest best trial lacks it: older study answers
    assert store.best_value_of("nothing") == (False, None)
    objs = new_study(store, "objs")
    store.add_trial(objs, finished(0, 1.0, opt=Marker), make_space())
    assert store.best_value_of("opt") == (False, None)  # only the cell can rebuild an object


# -- crash safety ----------------------------------------------------------------------------------------------------


def test_every_write_is_committed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "commit.db"
    store = Storage(path)
    reader = sqlite3.connect(path)
    try:
        sid = new_study(store)
        assert reader.execute("SELECT name, state FROM studies").fetchall() == [("exp", "running")]
        t = Trial(number=0, params={"lr": 0.5})
        store.add_trial(sid, t)
        assert reader.execute("SELECT number, state, value FROM trials").fetchall() == [(0, "running", None)]
        t.state, t.value, t.finished_at = TrialState.COMPLETE, 0.125, time.time()
        store.update_trial(sid, t)
        assert reader.execute("SELECT number, state, value FROM trials").fetchall() == [(0, "complete", 0.125)]
        store.set_study_state(sid, "finished")
        assert reader.execute("SELECT state FROM studies").fetchone() == ("finished",)
    finally:
        reader.close()
        store.close()


def test_a_killed_writer_loses_nothing_committed(tmp_path: Path) -> None:
    """Copy the files while the writer is still open (as if the process died): the copy has every trial."""
    path = tmp_path / "live.db"
    store = Storage(path)
    sid = new_study(store)
    for i in range(3):
        store.add_trial(sid, finished(i, float(i), lr=0.1))
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    for f in tmp_path.iterdir():
        if f.is_file():
            (copy_dir / f.name).write_bytes(f.read_bytes())
    store.close()
    recovered = Storage(copy_dir / "live.db")
    try:
        assert [t.value for t in recovered.load_trials(sid)] == [0.0, 1.0, 2.0]
    finally:
        recovered.close()


# -- files that are refused ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [random.Random(1).randbytes(4096), b"just some text, not a database\n" * 20, b"hello"],
    ids=["random-bytes", "text", "tiny"],
)
def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    before = digest(path)
    with pytest.raises(StorageError, match="not a readable hpmagic study store") as info:
        Storage(path)
    assert "x.db" in str(info.value)
    assert digest(path) == before
    assert side_files(path) == []


def test_damaged_store_raises_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    store = Storage(path)
    sid = new_study(store)
    for i in range(50):
        store.add_trial(sid, finished(i, float(i), lr=0.1, pad="x" * 500))
    store.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:] = random.Random(2).randbytes(len(data) - 4096)  # keep the header, wreck the pages
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError):
        broken = Storage(path)
        try:
            broken.load_trials(sid)
            broken.list_studies()
        finally:
            broken.close()


def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StorageError, match="not an hpmagic study store"):
        Storage(path)
    assert digest(path) == before
    check = sqlite3.connect(path)
    try:
        assert {r[0] for r in check.execute("SELECT name FROM sqlite_master")} == {"customers"}
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    finally:
        check.close()


@pytest.mark.parametrize(
    "setup",
    ["CREATE VIEW answer AS SELECT 42 AS x", "PRAGMA user_version = 7", "PRAGMA application_id = 1234"],
    ids=["only-a-view", "user-version", "application-id"],
)
def test_foreign_database_without_tables_is_refused(tmp_path: Path, setup: str) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute(setup)
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StorageError, match="not an hpmagic study store"):
        Storage(path)
    assert digest(path) == before


def test_store_from_a_newer_hpmagic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    store = Storage(path)
    new_study(store)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE hpmagic_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StorageError, match="newer hpmagic") as info:
        Storage(path)
    assert f"schema {SCHEMA_VERSION + 1}" in str(info.value)
    assert digest(path) == before


def test_store_without_a_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nover.db"
    Storage(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM hpmagic_meta")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="schema version"):
        Storage(path)


def test_locked_store_raises_and_overwrites_nothing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = Storage(path)
    sid = new_study(store, "kept")
    store.add_trial(sid, finished(0, 1.0, lr=0.1))
    store.close()

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked"):
            # In WAL mode readers still get in, so opening may work; the first write must fail.
            s = Storage(path, timeout=0.1)
            try:
                # The small timeout is honoured: SQLite waits 100 ms for the lock (its default would be 2 s).
                assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 100
                s.add_trial(sid, finished(1, 2.0, lr=0.2))
            finally:
                s.close()
        with pytest.raises(StorageError, match="locked"):
            s = Storage(path, timeout=0.1)
            try:
                s.create_study("new", direction="minimize", strategy="random", seed=0, space=make_space())
            finally:
                s.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    after = Storage(path)
    try:
        assert [s["name"] for s in after.list_studies()] == ["kept"]
        assert [t.value for t in after.load_trials(sid)] == [1.0]
    finally:
        after.close()


def test_locked_new_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked"):
            Storage(path, timeout=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)  # nothing written
    finally:
        check.close()


def test_folder_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="is a folder"):
        Storage(tmp_path)


def test_path_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "s.db"
    with pytest.raises(StorageError, match="does not exist"):
        Storage(missing)
    assert not missing.parent.exists()


def test_closed_store_raises_storage_error(tmp_path: Path) -> None:
    store = Storage(tmp_path / "c.db")
    store.close()
    with pytest.raises(StorageError):
        store.list_studies()
