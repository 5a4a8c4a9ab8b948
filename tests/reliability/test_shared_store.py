"""Section "shared stores": two processes running one study cooperate through the store.

Trial numbers come from the store, a grid point taken by one process is skipped by the other, and neither marks
the other's running trial interrupted (heartbeat and owner rule). Real processes, a real SQLite file.
``HPMAGIC_SHARED_SECONDS`` lengthens the two-process run (default: a few seconds, to keep the suite fast).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpmagic import storage as storage_module
from hpmagic.space import Float, Int, Space
from hpmagic.storage import Storage
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState

SECONDS = float(os.environ.get("HPMAGIC_SHARED_SECONDS", "6"))

CHILD = textwrap.dedent(
    """
    import sys, time
    import hpmagic
    from hpmagic import tune
    path, name, n_a, n_b, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

    def f(p):
        time.sleep(pause)
        return p["a"] * 1000 + p["b"] + p["x"] * 0.0

    study = hpmagic.optimize(
        f, {"a": tune.int(0, n_a - 1), "b": tune.int(0, n_b - 1), "x": tune.choice([0.5])},
        strategy="grid", storage=path, name=name, resume=True, seed=11, max_failures=None, n_trials=n_a * n_b,
    )
    print("DONE", study.last_finish.reason, len(study.trials))
    """
)


def _spawn(script: Path, *args: object) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_processes_share_a_seeded_grid(tmp_path: Path) -> None:
    """0 errors, 0 trials lost, 0 grid points run twice, trial numbers 0..n-1 each once."""
    pause = 0.02
    n_a = max(4, int(SECONDS / pause * 1.6 / 10))  # two processes: about SECONDS of trials each
    n_b = 10
    path = tmp_path / "shared.db"
    space = Space({"a": Int(0, n_a - 1), "b": Int(0, n_b - 1)})
    create_study(space=space, name="shared", storage=str(path), direction="minimize").storage.close()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    procs = [_spawn(script, path, "shared", n_a, n_b, pause) for _ in range(2)]
    outs = [p.communicate(timeout=SECONDS * 10 + 60) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "DONE exhausted" in out, (out, err[-2000:])
        assert "Error" not in err and "Traceback" not in err, err[-2000:]

    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT t.number, t.state, t.params, t.user_attrs, t.owner FROM trials t JOIN studies s ON s.id = t.study_id "
        "WHERE s.name = 'shared' ORDER BY t.number"
    ).fetchall()
    assert conn.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 1
    conn.close()
    numbers = [r[0] for r in rows]
    configs = [(json.loads(r[2])["a"], json.loads(r[2])["b"]) for r in rows]
    owners = {r[4] for r in rows}
    report = {
        "trials": len(rows),
        "grid": n_a * n_b,
        "not complete": sum(r[1] != "complete" for r in rows),
        "run twice": len(configs) - len(set(configs)),
        "flagged duplicate": sum("duplicate" in json.loads(r[3]) for r in rows),
        "processes": len(owners),
    }
    print("two-process grid:", report)
    assert numbers == list(range(len(rows)))
    assert report["not complete"] == 0 and report["run twice"] == 0 and report["flagged duplicate"] == 0
    assert set(configs) == {(a, b) for a in range(n_a) for b in range(n_b)}  # 0 lost
    assert report["processes"] == 2  # both really worked on it


SLOW = textwrap.dedent(
    """
    import sys, time
    from hpmagic.space import Float, Space
    from hpmagic.study import create_study
    from hpmagic.samplers import RandomSampler
    study = create_study(space=Space({"x": Float(0, 1)}), name="slow", storage=sys.argv[1], resume=True)
    print("RUNNING", flush=True)
    study.optimize(lambda ctx: time.sleep(600) or 0.0, RandomSampler(), n_trials=1)
    """
)


def test_a_live_process_keeps_its_running_trial_and_a_killed_one_loses_it(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    create_study(space=Space({"x": Float(0, 1)}), name="slow", storage=str(path)).storage.close()
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    proc = _spawn(script, path)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "RUNNING"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with sqlite3.connect(path) as c:
                if c.execute("SELECT COUNT(*) FROM trials WHERE state = 'running'").fetchone()[0]:
                    break
            time.sleep(0.05)
        other = create_study(space=Space({"x": Float(0, 1)}), name="slow", storage=str(path), resume=True)
        assert [t.state for t in other.trials] == [TrialState.RUNNING]  # alive: left alone
        other.storage.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    again = create_study(space=Space({"x": Float(0, 1)}), name="slow", storage=str(path), resume=True)
    assert [t.state for t in again.trials] == [TrialState.INTERRUPTED]  # its process is gone
    again.storage.close()


@settings(max_examples=40)
@given(
    host=st.sampled_from(["here", "elsewhere", "none"]),
    pid_alive=st.booleans(),
    age=st.floats(0, 1000),
    stale_after=st.floats(1, 500),
)
def test_heartbeat_rule(
    tmp_path_factory: pytest.TempPathFactory, host: str, pid_alive: bool, age: float, stale_after: float
) -> None:
    """A running trial of another owner is interrupted on resume iff its owner is unknown, its process on this
    machine is gone, or its heartbeat is older than the staleness timeout."""
    path = tmp_path_factory.mktemp("hb") / "s.db"
    store = Storage(path)
    study = create_study(space=Space({"x": Float(0, 1)}), name="h", storage=store)
    store.add_trial(study.study_id, Trial(number=0, params={"x": 0.5}))
    pid = os.getpid() if pid_alive else 2**22 + 12345  # beyond pid_max: no such process
    owner = {"here": f"{socket.gethostname()}:{pid}:ab", "elsewhere": f"other-host-x:{pid}:ab", "none": None}[host]
    store._heartbeat.ids.clear()
    store._execute("UPDATE trials SET owner = ?, heartbeat = ?", (owner, time.time() - age))
    marked = store.mark_running_interrupted(study.study_id, stale_after=stale_after)
    expect = host == "none" or (host == "here" and not pid_alive) or age > stale_after
    if abs(age - stale_after) > 0.5:  # away from the boundary (time passes while the test runs)
        assert marked == int(expect)
    store.close()


def test_heartbeat_refreshes_a_running_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "HEARTBEAT_INTERVAL", 0.05)
    store = Storage(tmp_path / "s.db")
    study = create_study(space=Space({"x": Float(0, 1)}), name="h", storage=store)
    number = store.reserve_number(study.study_id)
    first = store._query_one("SELECT heartbeat FROM trials WHERE number = ?", (number,))
    time.sleep(0.4)
    later = store._query_one("SELECT heartbeat FROM trials WHERE number = ?", (number,))
    assert first is not None and later is not None and later["heartbeat"] > first["heartbeat"]
    store.close()


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=4))
def test_numbers_come_from_the_store(tmp_path_factory: pytest.TempPathFactory, batches: list[int]) -> None:
    """Several connections (as several processes) interleaving reservations never get the same number."""
    path = tmp_path_factory.mktemp("n") / "s.db"
    stores = [Storage(path) for _ in batches]
    sid = create_study(space=Space({"x": Float(0, 1)}), name="n", storage=stores[0]).study_id
    got = []
    for _round in range(max(batches)):
        for store, n in zip(stores, batches, strict=True):
            if _round < n:
                got.append(store.reserve_number(sid))
    assert sorted(got) == list(range(sum(batches)))
    for s in stores:
        s.close()


STARTER = textwrap.dedent(
    """
    import os, sys, time
    from hpmagic.space import Float, Space
    from hpmagic.study import create_study
    path, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("READY", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(n):
        create_study(space=Space({"x": Float(0, 1)}), name="run", storage=path).storage.close()
        create_study(space=Space({"x": Float(0, 1)}), name=f"shared {i}", storage=path, resume=True).storage.close()
    print("DONE", flush=True)
    """
)


def test_two_processes_starting_studies_of_one_name_at_once(tmp_path: Path) -> None:
    """Two notebooks running the same cell at the same moment: without ``--resume`` each gets its own study
    (``run``, ``run (2)``, ...), with it both continue one study; neither fails on the other's new name."""
    n = 120
    path, go = tmp_path / "s.db", tmp_path / "go"
    Storage(path).close()
    script = tmp_path / "starter.py"
    script.write_text(STARTER)
    procs = [_spawn(script, path, go, n) for _ in range(2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "DONE" in out, err[-2000:]
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM studies")]
    conn.close()
    assert len(names) == len(set(names)) == 3 * n
    assert sorted(x for x in names if not x.startswith("shared")) == sorted(
        ["run", *(f"run ({k})" for k in range(2, 2 * n + 1))]
    )
    assert sorted(x for x in names if x.startswith("shared")) == sorted(f"shared {i}" for i in range(n))


def test_a_trial_finishing_while_another_program_holds_the_store_is_saved(tmp_path: Path) -> None:
    """Another connection keeps the write lock longer than the busy timeout (a long write, a database browser): the
    trial finishing meanwhile waits for it and is saved, and the study goes on, rather than stopping on 'locked'
    with the computed value left 'running' (lost on resume)."""
    import threading

    import hpmagic
    from hpmagic import tune

    path = tmp_path / "s.db"
    held = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(3.0)  # longer than the store's 2 s busy timeout
        other.execute("COMMIT")
        other.close()

    def fn(p: dict[str, float]) -> float:
        if p["x"] == 0.5:
            threading.Thread(target=hold, daemon=True).start()
            held.wait(10)
        return p["x"]

    study = hpmagic.optimize(
        fn,
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=3,
        storage=str(path),
        name="held",
        enqueue=[{"x": 0.1}, {"x": 0.5}],
    )
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    study.storage.close()
    again = create_study(space=Space({"x": Float(0, 1)}), name="held", storage=str(path), resume=True)
    assert [(t.state, t.value) for t in again.trials][:2] == [(TrialState.COMPLETE, 0.1), (TrialState.COMPLETE, 0.5)]
    again.storage.close()
