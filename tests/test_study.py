"""The optimize loop with real parts: SQLite files, real strategies, real objectives (no mocks)."""

from __future__ import annotations

import csv
import math
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpmagic.api import FunctionObjective
from hpmagic.context import TrialContext
from hpmagic.errors import OptionError
from hpmagic.events import (
    Event,
    StudyFinished,
    StudyPaused,
    StudyStarted,
    StudyUnpaused,
    TrialFinished,
    TrialReported,
    TrialStarted,
)
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.storage import Storage
from hpmagic.strategies import Scheduler, Strategy, TrialRequest, get_strategy
from hpmagic.study import Study, create_study, load_study
from hpmagic.trial import Trial, TrialState
from hpmagic.types import FinishReason


def space_x() -> Space:
    return Space({"x": Float(-5.0, 5.0)})


class Recording(Scheduler):
    """Random proposals; remembers what ``tell`` and ``report`` receive. Prunes at ``prune_at`` if set."""

    name = "recording"

    def __init__(self, prune_at: int | None = None) -> None:
        self.told: list[tuple[int, TrialState, Any]] = []
        self.prune_at = prune_at

    def ask(self, number: int) -> TrialRequest:
        return TrialRequest(self.space.sample(np.random.default_rng([self.seed, number])))

    def tell(self, trial: Trial) -> None:
        self.told.append((trial.number, trial.state, trial.value))

    def report(self, trial: Trial, step: int, value: float) -> bool:
        return self.prune_at is not None and step >= self.prune_at


def scripted(values: Sequence[Any]) -> Callable[[TrialContext], Any]:
    """An objective returning ``values[trial number]`` (raising it when it is an exception)."""

    def objective(ctx: TrialContext) -> Any:
        ctx.use_all()
        value = values[ctx.trial.number]
        if isinstance(value, BaseException):
            raise value
        return value

    return objective


def quadratic(params: dict[str, Any]) -> float:
    return (params["x"] - 2.0) ** 2


def new_study(tmp_path: Path | None = None, **kw: Any) -> Study:
    kw.setdefault("space", space_x())
    kw.setdefault("seed", 0)
    if tmp_path is not None:
        kw.setdefault("storage", str(tmp_path / "study.db"))
    return create_study(**kw)


def random() -> Strategy:
    return get_strategy("random")


def stored_rows(path: Path, study_name: str) -> list[tuple[int, str, float | None]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT t.number, t.state, t.value FROM trials t JOIN studies s ON s.id = t.study_id "
            "WHERE s.name = ? ORDER BY t.number",
            (study_name,),
        ).fetchall()
    finally:
        conn.close()


# -- stop conditions -------------------------------------------------------------------------------------------------


def test_n_trials_budget(tmp_path: Path) -> None:
    study = new_study(tmp_path)
    finish = study.optimize(FunctionObjective(quadratic), random(), n_trials=7)
    assert finish.reason == "budget" and "7 of 7" in finish.message
    assert [t.number for t in study.trials] == list(range(7))
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert study.last_finish is finish
    assert len(stored_rows(tmp_path / "study.db", study.name)) == 7
    assert Storage(tmp_path / "study.db").get_study(study.name).state == "finished"  # type: ignore[union-attr]


def test_timeout_stops_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake clock that only trials move: each takes 0.1 s, so a 0.35 s limit allows exactly four."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    def slow(ctx: TrialContext) -> float:
        clock[0] += 0.1
        return 1.0

    study = new_study()
    finish = study.optimize(slow, random(), n_trials=100, timeout=0.35)
    assert finish.reason == "timeout" and "time limit" in finish.message
    assert len(study.trials) == 4


def test_stop_request_from_a_reporter() -> None:
    study = new_study()

    def stopper(event: Event) -> None:
        if isinstance(event, TrialFinished) and event.trial.number == 2:
            event.study.stop()

    finish = study.optimize(FunctionObjective(quadratic), random(), n_trials=50, reporters=[stopper])
    assert finish.reason == "stopped"
    assert len(study.trials) == 3


def test_exhausted_grid_ends_the_loop() -> None:
    study = new_study(space=Space({"k": Int(1, 3), "c": Categorical(("a", "b"))}))
    finish = study.optimize(lambda ctx: ctx.use_all()["k"], get_strategy("grid"), n_trials=None)
    assert finish.reason == "exhausted"
    assert sorted((t.params["k"], t.params["c"]) for t in study.trials) == [
        (k, c) for k in (1, 2, 3) for c in ("a", "b")
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {"n_trials": 0},
        {"n_trials": -1},
        {"n_trials": "3"},
        {"n_trials": True},
        {"timeout": -1},
        {"timeout": 0},
        {"max_failures": 0},
        {"threads": 0},
    ],
)
def test_bad_budgets_raise_option_error(kw: dict[str, Any]) -> None:
    study = new_study()
    with pytest.raises(OptionError):
        study.optimize(FunctionObjective(quadratic), random(), **kw)
    assert study.trials == []


# -- failures --------------------------------------------------------------------------------------------------------


def my_broken_objective(params: dict[str, Any]) -> float:
    raise ValueError(f"bad x {params['x']:.3f}")


def test_exception_fails_the_trial_with_the_users_traceback() -> None:
    study = new_study()
    study.optimize(FunctionObjective(my_broken_objective), random(), n_trials=2, max_failures=None)
    for trial in study.trials:
        assert trial.state is TrialState.FAILED
        assert trial.value is None
        assert trial.error is not None and trial.error.startswith("ValueError: bad x")
        assert trial.traceback is not None
        assert "my_broken_objective" in trial.traceback
        assert "ValueError: bad x" in trial.traceback
        assert "hpmagic/study.py" not in trial.traceback and "hpmagic/api.py" not in trial.traceback
        assert "_run_one" not in trial.traceback


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("abc", "real number"),
        (None, "objective is None"),
        (math.nan, "not a finite"),
        (math.inf, "not a finite"),
        (-math.inf, "not a finite"),
        (True, "real number"),
        (np.bool_(False), "real number"),
        (1 + 2j, "real number"),
        (np.array([1.0, 2.0]), "real number"),
        (np.float64("nan"), "not a finite"),
    ],
    ids=["str", "None", "nan", "inf", "-inf", "bool", "np.bool_", "complex", "array", "np-nan"],
)
def test_invalid_values_fail_and_never_reach_the_strategy(bad: Any, words: str) -> None:
    strategy = Recording()
    study = new_study()
    study.optimize(scripted([1.0, bad, 0.5]), strategy, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE]
    failed = study.trials[1]
    assert failed.value is None and failed.error is not None and words in failed.error
    assert [n for n, _, _ in strategy.told] == [0, 1, 2]
    assert strategy.told[1] == (1, TrialState.FAILED, None)
    for _, _state, value in strategy.told:
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    assert study.best_value == 0.5


@pytest.mark.parametrize(
    "raw",
    [np.float64(0.25), np.float32(0.25), np.int64(3), np.array(0.25), np.array([0.25]), 3, 0.25],
    ids=["float64", "float32", "int64", "0-d-array", "1-element-array", "int", "float"],
)
def test_numeric_values_are_accepted(raw: Any) -> None:
    strategy = Recording()
    study = new_study()
    study.optimize(scripted([raw]), strategy, n_trials=1)
    (trial,) = study.trials
    assert trial.state is TrialState.COMPLETE
    assert type(trial.value) is float and trial.value == float(np.asarray(raw).ravel()[0])
    assert type(strategy.told[0][2]) is float


def test_max_failures_stops_after_consecutive_failures() -> None:
    calls = []

    def always_fails(params: dict[str, Any]) -> float:
        calls.append(1)
        raise RuntimeError(f"boom number {len(calls) - 1}")

    study = new_study()
    finish = study.optimize(FunctionObjective(always_fails), random(), n_trials=50, max_failures=3)
    assert finish.reason == "failures"
    assert len(study.trials) == 3
    assert "3 failed trials in a row" in finish.message
    assert "boom number 0" in finish.message and "always_fails" in finish.message  # the first traceback
    assert "boom number 2" not in finish.message


def test_failures_not_in_a_row_do_not_stop() -> None:
    pattern = [RuntimeError("a"), RuntimeError("b"), 1.0] * 5
    study = new_study()
    finish = study.optimize(scripted(pattern), random(), n_trials=15, max_failures=3)
    assert finish.reason == "budget"
    assert len(study.trials) == 15


def test_system_exit_in_the_objective_fails_only_that_trial() -> None:
    study = new_study()
    study.optimize(scripted([SystemExit(3), 1.0]), random(), n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAILED, TrialState.COMPLETE]


# -- interrupts ------------------------------------------------------------------------------------------------------


def interrupt_at(k: int) -> Callable[[TrialContext], float]:
    def objective(ctx: TrialContext) -> float:
        ctx.use_all()
        print(f"trial {ctx.trial.number} says hi")
        if ctx.trial.number == k:
            raise KeyboardInterrupt
        return float(ctx.trial.number)

    return objective


def test_keyboard_interrupt_keeps_completed_trials(tmp_path: Path) -> None:
    study = new_study(tmp_path, name="int")
    finish = study.optimize(interrupt_at(3), random(), n_trials=10, catch_interrupt=True)
    assert finish.reason == "interrupted" and "resume" in finish.message
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 + [TrialState.INTERRUPTED]
    assert study.trials[3].stdout == "trial 3 says hi\n"
    assert study.trials[3].finished_at is not None
    rows = stored_rows(tmp_path / "study.db", "int")
    assert [(n, s) for n, s, _ in rows] == [(0, "complete"), (1, "complete"), (2, "complete"), (3, "interrupted")]
    reopened = load_study("int", tmp_path / "study.db")
    assert reopened.trials[3].stdout == "trial 3 says hi\n"
    assert Storage(tmp_path / "study.db").get_study("int").state == "interrupted"  # type: ignore[union-attr]


def test_keyboard_interrupt_is_re_raised_without_catch(tmp_path: Path) -> None:
    study = new_study(tmp_path, name="int")
    events: list[Event] = []
    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupt_at(2), random(), n_trials=10, catch_interrupt=False, reporters=[events.append])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.INTERRUPTED]
    assert [s for _, s, _ in stored_rows(tmp_path / "study.db", "int")] == ["complete", "complete", "interrupted"]
    assert isinstance(events[-1], StudyFinished) and events[-1].reason == "interrupted"


# -- output capture and events ---------------------------------------------------------------------------------------


def test_prints_are_captured_per_trial(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def chatty(ctx: TrialContext) -> float:
        print(f"out {ctx.trial.number}")
        print(f"err {ctx.trial.number}", file=sys.stderr)
        return 1.0

    study = new_study(tmp_path, name="chat")
    study.optimize(chatty, random(), n_trials=3)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert [t.stdout for t in study.trials] == ["out 0\n", "out 1\n", "out 2\n"]
    assert [t.stderr for t in study.trials] == ["err 0\n", "err 1\n", "err 2\n"]
    stored = load_study("chat", tmp_path / "study.db").trials
    assert [t.stdout for t in stored] == ["out 0\n", "out 1\n", "out 2\n"]
    print("after")
    assert capsys.readouterr().out == "after\n"


def test_events_order_and_best_flags() -> None:
    events: list[Event] = []
    study = new_study()
    study.optimize(
        scripted([3.0, 1.0, 2.0, ValueError("x"), 0.5, 0.5]), random(), n_trials=6, reporters=[events.append]
    )
    kinds = [type(e) for e in events]
    assert kinds[0] is StudyStarted and kinds[-1] is StudyFinished
    assert kinds[1:-1] == [TrialStarted, TrialFinished] * 6
    started = events[0]
    assert isinstance(started, StudyStarted) and started.n_trials == 6 and started.strategy == "random"
    flags = [e.is_best for e in events if isinstance(e, TrialFinished)]
    assert flags == [True, True, False, False, True, False]  # a tie is not a new best
    assert all(e.study is study for e in events)
    assert study.best_trial is study.trials[4]


def test_maximize_best_flags() -> None:
    events: list[Event] = []
    study = new_study(direction="maximize")
    study.optimize(scripted([3.0, 1.0, 5.0]), random(), n_trials=3, reporters=[events.append])
    assert [e.is_best for e in events if isinstance(e, TrialFinished)] == [True, False, True]


def test_reports_and_pruning() -> None:
    def learner(ctx: TrialContext) -> float:
        for step in range(5):
            ctx.report(1.0 / (step + 1))
        return 0.1

    events: list[Event] = []
    study = new_study()
    strategy = Recording(prune_at=2)
    study.optimize(learner, strategy, n_trials=2, reporters=[events.append])
    for trial in study.trials:
        assert trial.state is TrialState.PRUNED
        assert trial.intermediate == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
        assert trial.value == pytest.approx(1 / 3)
    assert sum(isinstance(e, TrialReported) for e in events) == 6
    assert [s for _, s, _ in strategy.told] == [TrialState.PRUNED] * 2


def test_a_failing_reporter_is_dropped_with_a_warning() -> None:
    calls: list[Event] = []

    def broken(event: Event) -> None:
        calls.append(event)
        if isinstance(event, TrialFinished):
            raise RuntimeError("display exploded")

    good: list[Event] = []
    study = new_study()
    with pytest.warns(UserWarning, match="display exploded"):
        finish = study.optimize(FunctionObjective(quadratic), random(), n_trials=5, reporters=[broken, good.append])
    assert finish.reason == "budget" and len(study.trials) == 5
    assert sum(isinstance(e, TrialFinished) for e in calls) == 1  # dropped after its first failure
    assert sum(isinstance(e, TrialFinished) for e in good) == 5
    assert isinstance(good[-1], StudyFinished)


def test_trial_finished_hook_of_the_objective() -> None:
    seen: list[tuple[int, bool]] = []

    class Hooked:
        def __call__(self, ctx: TrialContext) -> float:
            return [2.0, 1.0, 3.0][ctx.trial.number]

        def trial_finished(self, trial: Trial, is_best: bool) -> None:
            seen.append((trial.number, is_best))

    new_study().optimize(Hooked(), random(), n_trials=3)
    assert seen == [(0, True), (1, True), (2, False)]


# -- resume ----------------------------------------------------------------------------------------------------------


def test_resume_after_a_crash_continues_the_study(tmp_path: Path) -> None:
    path = tmp_path / "resume.db"
    first = create_study(space=space_x(), name="r", storage=str(path), seed=3)
    first.optimize(FunctionObjective(quadratic), random(), n_trials=4)
    old = [(t.number, t.params["x"], t.value) for t in first.trials]
    study_id = first.study_id
    first.storage.close()

    # A "crash": a trial row left running, as a killed kernel leaves it.
    crashed = Storage(path)
    crashed.add_trial(study_id, Trial(number=4, params={"x": 0.0}))
    crashed.close()

    store = Storage(path)  # a new process
    resumed = create_study(space=space_x(), name="r", storage=store, resume=True)
    assert resumed.study_id == study_id and resumed.name == "r" and resumed.seed == 3
    assert [t.state for t in resumed.trials] == [TrialState.COMPLETE] * 4 + [TrialState.INTERRUPTED]
    assert stored_rows(path, "r")[4][1] == "interrupted"
    assert [(t.number, t.params["x"], t.value) for t in resumed.trials[:4]] == old

    finish = resumed.optimize(FunctionObjective(quadratic), random(), n_trials=7)
    assert finish.reason == "budget"
    assert [t.number for t in resumed.trials] == list(range(8))
    assert sum(t.state.finished for t in resumed.trials) == 7  # n_trials counts the total
    assert [n for n, _, _ in stored_rows(path, "r")] == list(range(8))
    assert len(Storage(path).list_studies()) == 1

    # The random sequence continues as one uninterrupted run would have produced it.
    whole = create_study(space=space_x(), name="whole", seed=3)
    whole.optimize(FunctionObjective(quadratic), random(), n_trials=7)
    finished = [t for t in resumed.trials if t.state.finished]
    assert [t.params["x"] for t in finished] == [t.params["x"] for t in whole.trials]


def test_resume_with_the_other_direction_is_refused(tmp_path: Path) -> None:
    study = new_study(tmp_path, name="dir")
    study.optimize(FunctionObjective(quadratic), random(), n_trials=2)
    with pytest.raises(OptionError, match="minimize"):
        new_study(tmp_path, name="dir", direction="maximize", resume=True)
    assert [s["name"] for s in Storage(tmp_path / "study.db").list_studies()] == ["dir"]


def test_rerun_without_resume_gets_a_new_name(tmp_path: Path) -> None:
    a = new_study(tmp_path, name="run")
    a.optimize(FunctionObjective(quadratic), random(), n_trials=2)
    b = new_study(tmp_path, name="run")
    assert b.name == "run (2)" and b.trials == []
    b.optimize(FunctionObjective(quadratic), random(), n_trials=1)
    c = new_study(tmp_path, name="run", resume=True)
    assert c.name == "run (2)" and len(c.trials) == 1  # resume picks the latest variant
    d = new_study(tmp_path, name="fresh", resume=True)  # nothing to resume: a new study
    assert d.name == "fresh" and d.trials == []
    assert len(load_study("run", tmp_path / "study.db").trials) == 2


def test_load_study_unknown_name(tmp_path: Path) -> None:
    new_study(tmp_path, name="there")
    with pytest.raises(OptionError, match="there"):
        load_study("missing", tmp_path / "study.db")


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=30))
def test_load_study_from_a_missing_file_creates_nothing(tmp_path: Path, name: str) -> None:
    """A mistyped store path says so, and leaves no empty store behind to be mistaken for the real one."""
    before = sorted(tmp_path.iterdir())
    for path in (tmp_path / f"{name}.db", str(tmp_path / name)):
        with pytest.raises(OptionError, match="there is no study store at"):
            load_study("run", path)
    assert sorted(tmp_path.iterdir()) == before


# -- results ---------------------------------------------------------------------------------------------------------


def test_best_for_both_directions() -> None:
    values = [5.0, 2.0, 8.0, ValueError("no"), 2.0]
    low = new_study()
    low.optimize(scripted(values), random(), n_trials=5)
    assert low.best_value == 2.0
    assert low.best_trial is low.trials[1]  # the earliest of a tie
    assert low.best_params == low.trials[1].params and "x" in low.best_params
    high = new_study(direction="maximize")
    high.optimize(scripted(values), random(), n_trials=5)
    assert high.best_value == 8.0 and high.best_trial is high.trials[2]
    assert high.best_params == high.trials[2].params
    assert low.is_better(1.0, 2.0) and high.is_better(2.0, 1.0)


def test_best_value_without_complete_trials_raises() -> None:
    study = new_study()
    assert study.best_trial is None
    with pytest.raises(ValueError, match="no complete trial"):
        _ = study.best_value
    study.optimize(scripted([ValueError("a"), ValueError("b")]), random(), n_trials=2)
    with pytest.raises(ValueError):
        _ = study.best_params
    assert "best_value" not in repr(study)


def test_best_survives_reloading(tmp_path: Path) -> None:
    study = new_study(tmp_path, name="b", direction="maximize")
    study.optimize(scripted([1.0, 4.0, 2.0]), random(), n_trials=3)
    again = load_study("b", tmp_path / "study.db")
    assert again.best_value == 4.0 and again.best_trial.number == 1  # type: ignore[union-attr]
    assert again.best_params["x"] == pytest.approx(study.best_params["x"])


def test_to_csv_writes_a_row_per_trial(tmp_path: Path) -> None:
    space = Space({"x": Float(-5.0, 5.0), "value": Int(1, 3), "opt": Categorical(("a", "b"))})
    study = create_study(space=space, seed=1)
    study.optimize(scripted([1.5, ValueError("broken, badly"), 0.5]), random(), n_trials=3)
    out = tmp_path / "trials.csv"
    assert study.to_csv(out) == str(out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3
    assert set(rows[0]) >= {"number", "state", "value", "duration", "error", "x", "param_value", "opt"}
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert [r["state"] for r in rows] == ["complete", "failed", "complete"]
    assert float(rows[0]["value"]) == 1.5 and rows[1]["value"] == ""
    assert rows[1]["error"] == "ValueError: broken, badly"
    assert float(rows[2]["x"]) == pytest.approx(study.trials[2].params["x"])
    assert rows[0]["param_value"] == str(study.trials[0].params["value"])


def test_to_csv_of_an_empty_study(tmp_path: Path) -> None:
    out = tmp_path / "empty.csv"
    new_study().to_csv(out)
    assert out.read_text().strip() == "number,state,value,duration,error"


def test_to_dataframe_has_param_columns() -> None:
    pd = pytest.importorskip("pandas")
    study = new_study(space=Space({"x": Float(0.0, 1.0), "k": Int(1, 4)}))
    study.optimize(FunctionObjective(lambda p: p["x"] * p["k"]), random(), n_trials=6)
    df = study.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == 6
    assert {"number", "state", "value", "x", "k"} <= set(df.columns)
    assert df["x"].tolist() == [t.params["x"] for t in study.trials]
    assert (df["value"] == df["x"] * df["k"]).all()


def test_sorted_trials_best_first_failed_after_complete() -> None:
    values = [ValueError("a"), 3.0, 1.0, ValueError("b"), 2.0]
    low = new_study()
    low.optimize(scripted(values), random(), n_trials=5, max_failures=None)
    assert [t.number for t in low.sorted_trials()] == [2, 4, 1, 0, 3]
    high = new_study(direction="maximize")
    high.optimize(scripted(values), random(), n_trials=5, max_failures=None)
    assert [t.number for t in high.sorted_trials()] == [1, 4, 2, 0, 3]


def test_repr_and_summary() -> None:
    study = new_study(name="shown")
    study.optimize(scripted([0.5]), random(), n_trials=1)
    assert "shown" in repr(study) and "best_value=0.5" in repr(study)
    assert "shown" in study.summary()
    assert "<table" in study._repr_html_()


# -- threads ---------------------------------------------------------------------------------------------------------


def test_threads_limit_blas_inside_the_objective() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    np.ones(4) @ np.ones(4)  # make sure BLAS is loaded

    def blas_threads() -> list[int]:
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("no BLAS with a thread pool is loaded")
    seen: dict[str, list[int]] = {}

    def objective(key: str) -> Callable[[TrialContext], float]:
        def run(ctx: TrialContext) -> float:
            seen[key] = blas_threads()
            return 0.0

        return run

    with threadpool_limits(limits=2, user_api="blas"):
        if max(blas_threads()) < 2:
            pytest.skip("BLAS cannot use 2 threads here, so a limit of 1 cannot be told apart")
        new_study().optimize(objective("limited"), random(), n_trials=1, threads=1)
        new_study().optimize(objective("free"), random(), n_trials=1, threads=None)
        after = blas_threads()
    assert seen["limited"] and all(n == 1 for n in seen["limited"])
    assert max(seen["free"]) == 2
    assert max(after) == 2  # the limit is undone after the loop


def test_running_trial_row_holds_the_proposal_until_it_finishes(tmp_path):
    """A crash mid-trial must not lose which configuration was running."""
    import sqlite3

    from hpmagic.space import Float, Space
    from hpmagic.strategies import get_strategy
    from hpmagic.study import create_study

    path = tmp_path / "s.db"
    study = create_study(space=Space({"x": Float(0, 1)}), storage=str(path), name="p")
    seen = []

    def objective(ctx):
        with sqlite3.connect(path) as conn:
            seen.append(conn.execute("SELECT state, params FROM trials ORDER BY number DESC LIMIT 1").fetchone())
        return ctx.suggest("x", Float(0, 1)) * 2

    study.optimize(objective, get_strategy("random"), n_trials=1)
    state, params = seen[0]
    assert state == "running"
    assert '"x"' in params


def test_pause_waits_between_trials_and_unpause_goes_on():
    """Pause from another thread (as the dashboard's button does): no trial starts until unpause."""
    import threading

    from hpmagic.events import StudyPaused, StudyUnpaused
    from hpmagic.space import Float, Space
    from hpmagic.strategies import get_strategy
    from hpmagic.study import create_study

    study = create_study(space=Space({"x": Float(0, 1)}))
    events = []
    paused_at = []

    def objective(ctx):
        if len(study.trials) == 2:
            study.pause()
        return ctx.use_all()["x"]

    def reporter(event):
        events.append(type(event).__name__)
        if isinstance(event, StudyPaused):
            paused_at.append(len(study.trials))
            threading.Timer(0.3, study.unpause).start()

    study.optimize(objective, get_strategy("random"), n_trials=5, reporters=[reporter])
    assert paused_at == [2]
    assert len(study.trials) == 5
    assert events.index("StudyPaused") < events.index("StudyUnpaused")
    assert events.count("TrialStarted") == 5
    assert StudyUnpaused.__name__ in events


def test_stop_while_paused_ends_the_study():
    from hpmagic.events import StudyPaused
    from hpmagic.space import Float, Space
    from hpmagic.strategies import get_strategy
    from hpmagic.study import create_study

    study = create_study(space=Space({"x": Float(0, 1)}))
    study.pause()

    def reporter(event):
        if isinstance(event, StudyPaused):
            study.stop()

    finish = study.optimize(lambda ctx: 1.0, get_strategy("random"), n_trials=5, reporters=[reporter])
    assert finish.reason == "stopped"
    assert study.trials == []


def test_background_thread_output_does_not_capture_other_threads():
    """A study in a thread captures its trials' prints; the main thread still prints normally."""
    import io
    import sys
    import threading

    from hpmagic.space import Float, Space
    from hpmagic.strategies import get_strategy
    from hpmagic.study import create_study

    study = create_study(space=Space({"x": Float(0, 1)}))
    started, release = threading.Event(), threading.Event()

    def objective(ctx):
        print("from the trial")
        started.set()
        release.wait(5)
        return 1.0

    thread = threading.Thread(target=study.optimize, args=(objective, get_strategy("random")), kwargs={"n_trials": 1})
    main_out = io.StringIO()
    old = sys.stdout
    sys.stdout = main_out
    try:
        thread.start()
        assert started.wait(5)
        print("from the notebook")
        release.set()
        thread.join(30)
    finally:
        sys.stdout = old
    assert not thread.is_alive(), "the study's thread did not end"
    assert main_out.getvalue() == "from the notebook\n"
    assert study.trials[0].stdout == "from the trial\n"


def test_an_internal_error_ends_the_study_visibly_and_is_raised():
    """A broken strategy is not the user's fault: the loop reports the end to the displays, then raises."""
    from hpmagic.events import StudyFinished
    from hpmagic.space import Float, Space
    from hpmagic.strategies import RandomSampler
    from hpmagic.study import create_study

    class Broken(RandomSampler):
        def ask(self, number):
            if self.n_asked == 2:
                raise RuntimeError("strategy bug")
            return super().ask(number)

    study = create_study(space=Space({"x": Float(0, 1)}))
    events = []
    with pytest.raises(RuntimeError, match="strategy bug"):
        study.optimize(lambda ctx: 1.0, Broken(), n_trials=5, reporters=[events.append])
    finished = [e for e in events if isinstance(e, StudyFinished)]
    assert [f.reason for f in finished] == ["error"]
    assert not study.running
    assert len(study.trials) == 2


def test_strategy_notes_reach_the_summary():
    import hpmagic
    from hpmagic import tune
    from hpmagic.strategies import RandomSampler

    class Noting(RandomSampler):
        def tell(self, trial):
            if trial.number == 1:
                self.notes.append("held k fixed at 3 after the initial phase")

    study = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy=Noting(), n_trials=3, seed=0)
    assert study.notes == ["held k fixed at 3 after the initial phase"]
    assert "note: held k fixed at 3 after the initial phase" in study.summary()
    assert "held k fixed at 3" in study._repr_html_()


def test_stop_and_pause_requests_written_to_the_store_reach_a_running_loop(tmp_path: Path) -> None:
    """Another process (the JupyterLab extension) writes a request to the store; the loop obeys between trials."""
    from hpmagic.storage import Storage

    path = str(tmp_path / "study.db")
    study = new_study(tmp_path)
    other = Storage(path)  # a second connection, as another process would have
    gate = threading.Event()
    paused_at: list[int] = []

    def objective(ctx: TrialContext) -> float:
        ctx.use_all()
        n = ctx.trial.number
        if n == 2:
            other.set_control(study.study_id, "pause")
        if n == 3:
            paused_at.append(len([t for t in study.trials if t.state.finished]))
        if n == 5:
            other.set_control(study.study_id, "stop")
        return float(n)

    events: list[Any] = []

    def resume_when_paused(event: Any) -> None:
        events.append(event)
        if isinstance(event, StudyPaused):
            gate.set()

    thread = threading.Thread(
        target=study.optimize,
        args=(objective, random()),
        kwargs={"n_trials": 50, "reporters": [resume_when_paused]},
    )
    thread.start()
    assert gate.wait(timeout=30), "the loop never paused"
    assert len(study.trials) == 3  # paused after trial 2, before asking trial 3
    other.set_control(study.study_id, "resume")
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert study.last_finish is not None and study.last_finish.reason == FinishReason.STOPPED
    assert len(study.trials) == 6 and paused_at == [3]
    assert other.get_control(study.study_id) is None  # each request is cleared once obeyed
    assert any(isinstance(e, StudyUnpaused) for e in events)
