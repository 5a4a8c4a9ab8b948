"""A kernel killed in the middle of a study loses nothing but the running trial, and ``--resume`` finishes the study.

Real kernels (jupyter_client), a real SIGKILL, and the SQLite store read from outside the kernel.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

import hpmagic
from hpmagic import tune

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

N_TRIALS = 30
KILL_AFTER = 5  # complete trials
SEED = 3
CELL_BODY = """
import time
x = tune.uniform(-1, 1)
time.sleep(0.15)
x**2
"""


def _cell(storage: Path, resume: bool) -> str:
    line = f"%%tune --strategy random --trials {N_TRIALS} --seed {SEED} --name crash --storage {storage}"
    return line + (" --resume" if resume else "") + CELL_BODY


def _start_kernel(cwd: Path) -> tuple[KernelManager, Any]:
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _run(kc: Any, code: str, timeout: float = 120) -> str:
    """Run code in the kernel and wait for it; returns its stdout, fails the test on an error."""
    out: list[str] = []

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=collect)
    assert reply["content"]["status"] == "ok", "".join(out) or reply["content"]
    return "".join(out)


def _stop(km: KernelManager | None, kc: Any) -> None:
    if kc is not None:
        kc.stop_channels()
    if km is None:
        return
    if km.is_alive():
        km.shutdown_kernel(now=True)
    else:
        km.cleanup_resources()


def _read(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the store read-only (never as a second writer); a store not yet created reads as empty."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return []
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # not created yet, or schema not written yet
        return []
    finally:
        conn.close()


def _trials(path: Path) -> list[dict[str, Any]]:
    rows = _read(
        path,
        "SELECT t.number, t.state, t.params, t.value FROM trials t JOIN studies s ON s.id = t.study_id "
        "WHERE s.name = 'crash' ORDER BY t.number",
    )
    return [{"number": n, "state": s, "params": json.loads(p), "value": v} for n, s, p, v in rows]


def _wait_for_complete(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _read(path, "SELECT COUNT(*) FROM trials WHERE state = 'complete'")
        if rows and rows[0][0] >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"fewer than {count} complete trials in {path} after {timeout} s: {_trials(path)}")


def test_kernel_runs_this_interpreter(tmp_path: Path) -> None:
    """The "python3" kernel spec resolves to the interpreter running the tests (the venv's ipykernel)."""
    km = kc = None
    try:
        km, kc = _start_kernel(tmp_path)
        printed = _run(kc, "import sys; print(sys.executable)")
        assert os.path.realpath(printed.strip()) == os.path.realpath(sys.executable)
    finally:
        _stop(km, kc)


def test_killed_kernel_then_resume(tmp_path: Path) -> None:
    store = tmp_path / "crash.db"
    km = kc = None
    try:
        km, kc = _start_kernel(tmp_path)
        _run(kc, "%load_ext hpmagic")
        kc.execute(_cell(store, resume=False))  # not waited for
        _wait_for_complete(store, KILL_AFTER, timeout=180)
        pid = km.provisioner.process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)  # a crash: no KeyboardInterrupt, no clean-up in the kernel
        deadline = time.monotonic() + 30
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not km.is_alive(), "the kernel survived SIGKILL"
    finally:
        _stop(km, kc)

    before = _trials(store)  # the kernel is dead: the store cannot change any more
    done_before = [t for t in before if t.get("state") == "complete"]
    running_before = [t for t in before if t["state"] == "running"]
    assert len(done_before) >= KILL_AFTER
    assert len(done_before) < N_TRIALS, "the study finished before the kill; the test proves nothing"
    assert len(running_before) <= 1
    assert {t["state"] for t in before} <= {"complete", "running"}

    km = kc = None
    try:
        km, kc = _start_kernel(tmp_path)
        _run(kc, "%load_ext hpmagic")
        _run(kc, _cell(store, resume=True), timeout=300)
        printed = _run(kc, "print(tune.study.name, len(tune.study.trials), tune.best)")
        assert printed.startswith("crash ")
    finally:
        _stop(km, kc)

    assert [name for (name,) in _read(store, "SELECT name FROM studies")] == ["crash"]
    after = _trials(store)
    complete = [t for t in after if t["state"] == "complete"]
    assert len(complete) == N_TRIALS

    # Every trial completed before the kill is still there, unchanged.
    by_number = {t["number"]: t for t in after}
    for old in done_before:
        assert by_number[old["number"]] == old

    # The trial that was running when the kernel died is kept, marked interrupted.
    for old in running_before:
        assert by_number[old["number"]]["state"] == "interrupted"
        assert by_number[old["number"]]["params"] == old["params"]
    assert [t for t in after if t["state"] not in ("complete", "interrupted")] == []
    assert len([t for t in after if t["state"] == "interrupted"]) == len(running_before)

    # The resumed trials come after the old ones, and no configuration was completed twice.
    old_numbers = {t["number"] for t in before}
    new = [t for t in after if t["number"] not in old_numbers]
    assert len(new) == N_TRIALS - len(done_before)
    assert min(t["number"] for t in new) > max(old_numbers)
    assert sorted(t["number"] for t in after) == list(range(len(after)))
    configs = [json.dumps(t["params"], sort_keys=True) for t in complete]
    assert len(set(configs)) == len(configs)
    old_xs = {t["params"]["x"] for t in done_before}
    assert all(t["params"]["x"] not in old_xs for t in new)

    # Same seed, random strategy: the resumed run continued the seeded sequence, so the study holds exactly the
    # configurations an uninterrupted run draws (the interrupted trial's configuration is drawn again).
    reference = hpmagic.optimize(
        lambda p: p["x"] ** 2, {"x": tune.uniform(-1, 1)}, strategy="random", n_trials=N_TRIALS, seed=SEED
    )
    expected = sorted(t.params["x"] for t in reference.trials)
    got = sorted(t["params"]["x"] for t in complete)
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) for a, b in zip(got, expected, strict=True))
    for t in complete:
        assert math.isclose(t["value"], t["params"]["x"] ** 2, rel_tol=1e-9, abs_tol=1e-15)


def test_resume_retries_the_trial_the_crash_interrupted(tmp_path: Path) -> None:
    """``--resume`` runs the killed trial's configuration again, first, even when the resumed strategy would
    propose something else (here bayes continues a random study: its own next point is not the lost one)."""
    store = tmp_path / "retry.db"
    line = f"%%tune --trials 8 --seed {SEED} --name crash --storage {store}"
    body = "\nimport time\nx = tune.uniform(-1, 1)\ntime.sleep(0.3)\nx**2\n"
    km = kc = None
    try:
        km, kc = _start_kernel(tmp_path)
        _run(kc, "%load_ext hpmagic")
        kc.execute(f"{line} --strategy random{body}")
        _wait_for_complete(store, 3, timeout=180)
        deadline = time.monotonic() + 30
        # A running row with its configuration: the store reserves the number first (a placeholder without params)
        # and fills in the proposal after the strategy's ask; a crash in between interrupts no configuration.
        while not any(t["state"] == "running" and t["params"] for t in _trials(store)) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
        deadline = time.monotonic() + 30
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        _stop(km, kc)
    before = _trials(store)
    lost = [t for t in before if t["state"] == "running"]
    assert len(lost) == 1 and lost[0]["params"], before
    km = kc = None
    try:
        km, kc = _start_kernel(tmp_path)
        _run(kc, "%load_ext hpmagic")
        _run(kc, f"{line} --strategy bayes --resume{body}", timeout=300)
    finally:
        _stop(km, kc)
    after = _trials(store)
    by_number = {t["number"]: t for t in after}
    assert by_number[lost[0]["number"]]["state"] == "interrupted"
    new = [t for t in after if t["number"] > max(t["number"] for t in before)]
    assert new[0]["params"] == lost[0]["params"] and new[0]["state"] == "complete"  # the retry, first
    assert sum(t["params"] == lost[0]["params"] for t in after) == 2  # once: the original and its retry
    assert len([t for t in after if t["state"] == "complete"]) == 8
