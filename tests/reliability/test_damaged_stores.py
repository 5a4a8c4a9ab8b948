"""Section "damaged stores": damaged rows, broken files, read-only folders and a full disk.

Generated damage (bad JSON, unknown states, wrong types, absurd nesting, bad schema versions) is written into one
study's rows with plain SQL; that study must give a StorageError naming the store and the study through every
entry point, and the other study in the file must stay usable.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from hpmagic.errors import StorageError
from hpmagic.space import Float, Space
from hpmagic.storage import Storage
from hpmagic.study import create_study, load_study
from hpmagic.trial import Trial, TrialState

SPACE = Space({"x": Float(0, 1)})

junk_text = st.one_of(
    st.text(max_size=20).filter(lambda t: _not_json(t)),
    st.integers(1, 200).map(lambda n: "[" * n * 50),  # absurd nesting (and unclosed)
    st.integers(1, 50).map(lambda n: "[" * (n * 400) + "]" * (n * 400)),  # absurd but valid nesting
)
wrong_type = st.one_of(st.integers(), st.floats(allow_nan=True), st.binary(max_size=8), st.just("x"))


def _not_json(text: str) -> bool:
    import json

    try:
        json.loads(text)
    except ValueError:
        return True
    return False


# (table, column, value) of damage that must be refused as a StorageError.
trial_damage = st.one_of(
    st.tuples(st.just("trials"), st.sampled_from(["params", "user_attrs", "intermediate"]), junk_text),
    st.tuples(
        st.just("trials"), st.sampled_from(["params", "user_attrs"]), st.sampled_from(["[]", "3", '"s"', "null"])
    ),
    st.tuples(st.just("trials"), st.just("intermediate"), st.sampled_from(['[["a", 1]]', "[[1]]", '{"a": 1}', "[1]"])),
    st.tuples(st.just("trials"), st.just("state"), st.text(max_size=12).filter(lambda t: t not in set(TrialState))),
    st.tuples(st.just("trials"), st.just("value"), st.sampled_from(["abc", b"\x00", "1e999x"])),
    st.tuples(st.just("trials"), st.just("number"), st.sampled_from(["seven", 1.5, b"\x01"])),
    st.tuples(st.just("trials"), st.just("started_at"), st.sampled_from(["yesterday", b"\x02"])),
)
study_damage = st.one_of(
    st.tuples(st.just("studies"), st.sampled_from(["space", "options"]), junk_text),
    st.tuples(st.just("studies"), st.just("space"), st.sampled_from(["{}", "3", "[1, 2]", "null"])),
    st.tuples(
        st.just("studies"),
        st.just("direction"),
        st.text(max_size=10).filter(lambda t: t not in ("minimize", "maximize")),
    ),
    st.tuples(st.just("studies"), st.just("seed"), st.sampled_from(["abc", 1.5, b"\x03"])),
)


def _store_with_two_studies(path: Path) -> None:
    store = Storage(path)
    for name in ("hurt", "fine"):
        study = create_study(space=SPACE, name=name, storage=store, seed=1)
        for i in range(3):
            t = Trial(number=i, params={"x": i / 4}, state=TrialState.COMPLETE, value=float(i), finished_at=1.0)
            t.intermediate = [(1, 0.5)]
            store.add_trial(study.study_id, t)
    store.close()


def _damage(path: Path, table: str, column: str, value: Any) -> None:
    conn = sqlite3.connect(path)
    if table == "trials":
        conn.execute(
            f"UPDATE trials SET {column} = ? "
            "WHERE number = 1 AND study_id = (SELECT id FROM studies WHERE name = 'hurt')",
            (value,),
        )
    else:
        conn.execute(f"UPDATE studies SET {column} = ? WHERE name = 'hurt'", (value,))
    conn.commit()
    conn.close()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.one_of(trial_damage, study_damage))
def test_a_damaged_row_is_a_storage_error_naming_store_and_study(
    tmp_path_factory: pytest.TempPathFactory, ip: Any, damage: tuple[str, str, Any]
) -> None:
    path = tmp_path_factory.mktemp("dmg") / "s.db"
    _store_with_two_studies(path)
    _damage(path, *damage)

    def check(exc: BaseException) -> None:
        text = str(exc)
        assert str(path) in text and "'hurt'" in text, text
        assert len(text.splitlines()) == 1 and len(text) < 600, text

    with pytest.raises(StorageError) as info:
        load_study("hurt", str(path))
    check(info.value)
    with pytest.raises(StorageError) as info:
        create_study(space=SPACE, name="hurt", storage=str(path), resume=True)
    check(info.value)
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("tune_show", f"hurt --storage {path}")
    check(info.value)
    # The other study and the list stay usable.
    fine = load_study("fine", str(path))
    assert [t.value for t in fine.trials] == [0.0, 1.0, 2.0]
    listed = ip.run_line_magic("tune_list", f"--storage {path}")
    assert {s["name"] for s in listed.studies} == {"hurt", "fine"}
    repr(listed), listed._repr_html_() if hasattr(listed, "_repr_html_") else None
    resumed = create_study(space=SPACE, name="fine", storage=str(path), resume=True)
    assert len(resumed.trials) == 3
    resumed.storage.close()


@settings(max_examples=30)
@given(version=st.one_of(st.text(max_size=12), st.sampled_from(["1.5", "2x", "-1", "", "9" * 30, "３"])))
def test_a_non_numeric_schema_version_is_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, version: str
) -> None:
    if version.strip().isdigit() and version.strip().isascii() and len(version.strip()) < 10:
        return  # a number: another test's business
    path = tmp_path_factory.mktemp("ver") / "s.db"
    _store_with_two_studies(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE hpmagic_meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.commit()
    conn.close()
    for open_ in (Storage, Storage.open_read_only):
        with pytest.raises(StorageError, match="schema version") as info:
            open_(path)
        assert str(path) in str(info.value)


def test_a_file_failing_the_integrity_check_is_refused_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Storage(path)
    study = create_study(space=SPACE, name="a", storage=store)
    for i in range(400):  # enough pages that an index page can be damaged alone
        store.add_trial(study.study_id, Trial(number=i, params={"x": 0.5}, state=TrialState.COMPLETE, value=1.0))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trials_by_study'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as fh:  # scribble over the index's root page
        fh.seek((root - 1) * page + 8)
        fh.write(b"\x07" * 64)
    before = path.read_bytes()
    with pytest.raises(StorageError, match="integrity check|not a readable") as info:
        Storage(path)
    assert "refused for writing" in str(info.value) or "left untouched" in str(info.value)
    assert path.read_bytes() == before


READ_ONLY_CHILD = textwrap.dedent(
    """
    import sys
    from hpmagic.errors import StorageError
    from hpmagic.space import Float, Space
    from hpmagic.storage import Storage
    from hpmagic.study import create_study, load_study
    path = sys.argv[1]
    store = Storage(path)
    print("read_only", store.read_only)
    print("studies", sorted(s["name"] for s in store.list_studies()))
    print("trials", len(load_study("fine", store).trials))
    try:
        create_study(space=Space({"x": Float(0, 1)}), name="fine", storage=store, resume=True).optimize(
            lambda ctx: 1.0, __import__("hpmagic.samplers", fromlist=["RandomSampler"]).RandomSampler(), n_trials=5)
        print("wrote")
    except StorageError as exc:
        print("error", exc)
    """
)


def test_a_store_in_a_read_only_folder_is_read_and_writing_says_read_only() -> None:
    base = Path(tempfile.mkdtemp(prefix="hpmagic-ro-"))  # not under pytest's private folder: "nobody" reads it
    folder = base / "ro"
    folder.mkdir()
    path = folder / "s.db"
    _store_with_two_studies(path)
    command = [sys.executable, "-c", READ_ONLY_CHILD, str(path)]
    if os.geteuid() == 0:  # root writes anywhere: run the reader as nobody
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    os.chmod(base, 0o755)
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME="/tmp"))
        left = sorted(p.name for p in folder.iterdir())
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(base, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "read_only True" in lines and "studies ['fine', 'hurt']" in lines and "trials 3" in lines, done.stdout
    assert any(line.startswith("error") and "read-only" in line for line in lines), done.stdout
    assert left == ["s.db"]  # no -wal/-shm was created


def test_disk_full_keeps_the_finished_trial_and_writes_it_later(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Storage(path)
    study = create_study(space=SPACE, name="a", storage=store)
    number = store.reserve_number(study.study_id)
    trial = Trial(number=number, params={"x": 0.5})
    assert store.start_trial(study.study_id, trial, SPACE, {"x": 0.5})
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    trial.state, trial.value, trial.finished_at = TrialState.COMPLETE, 0.25, trial.started_at + 1
    trial.stdout = "x" * 200_000  # needs new pages
    with pytest.raises(StorageError, match=r"full: trial\(s\) 0 of study 'a' are not saved yet") as info:
        store.update_trial(study.study_id, trial, SPACE)
    assert str(path) in str(info.value)
    assert store.pending == [(study.study_id, 0)]
    store._conn.execute("PRAGMA max_page_count = 1073741823")  # space returns
    store.flush()
    assert store.pending == []
    store.close()
    again = load_study("a", str(path))
    assert again.trials[0].state is TrialState.COMPLETE and again.trials[0].value == 0.25
