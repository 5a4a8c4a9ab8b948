"""The dashboard's view model: what the table, progress and best line show after a sequence of events."""

from __future__ import annotations

import pytest

from hpmagic.display.view_model import DashboardModel, more_line, rows_html
from hpmagic.events import StudyFinished, StudyPaused, StudyStarted, StudyUnpaused, TrialFinished, TrialStarted
from hpmagic.space import Float, Space
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState


def _study(direction="minimize"):
    return create_study(space=Space({"x": Float(0, 10)}), direction=direction, name="vm")


def _finish(study, model, number, value=None, state=TrialState.COMPLETE, error=None, **params):
    trial = Trial(number=number, params=params or {"x": float(number)})
    study.trials.append(trial)
    model.handle(TrialStarted(study, trial))
    trial.state, trial.value, trial.error = state, value, error
    trial.finished_at = trial.started_at + 0.5
    is_best = study._update_best(trial)
    model.handle(TrialFinished(study, trial, is_best))
    return trial


def test_progress_counts_done_of_total_and_gives_an_eta():
    study = _study()
    model = DashboardModel()
    model.handle(StudyStarted(study, "random", 10, None))
    assert model.progress().text.startswith("0/10 trials")
    for i in range(4):
        _finish(study, model, i, value=float(i))
    p = model.progress(now=model.tracker.started + 8.0)
    assert (p.done, p.total) == (4, 10)
    assert p.fraction == pytest.approx(0.4)
    assert p.eta == pytest.approx(12.0)  # 2 s per trial so far, 6 to go
    assert "4/10 trials" in p.text and "ETA 0:12" in p.text


def test_timeout_progress_uses_elapsed_of_timeout_and_excludes_paused_time():
    study = _study()
    model = DashboardModel()
    model.handle(StudyStarted(study, "random", None, 100.0))
    t0 = model.tracker.started
    model.handle(StudyPaused(study))
    model.tracker._paused_at = t0 + 10
    model.handle(StudyUnpaused(study))
    model.tracker.paused_for = 30.0
    p = model.progress(now=t0 + 50)
    assert p.elapsed == pytest.approx(20.0)
    assert p.fraction == pytest.approx(0.2)
    assert "of 1:40" in p.text


def test_table_sorts_every_trial_and_counts_the_rest():
    study = _study()
    model = DashboardModel(top_k=3)
    model.handle(StudyStarted(study, "random", 20, None))
    values = [5.0, 1.0, 7.0, 3.0, 9.0, 2.0, 8.0, 6.0]
    for i, v in enumerate(values):
        _finish(study, model, i, value=v)
    running = Trial(number=8, params={"x": 0.5})
    study.trials.append(running)
    model.handle(TrialStarted(study, running))
    table = model.table()
    assert [r.number for r in table.rows] == [1, 5, 3]  # the three best of all eight, best first (minimize)
    assert table.rows[0].is_best and [r.is_best for r in table.rows].count(True) == 1
    assert (table.total, table.more, table.running) == (9, 6, [8])
    line = more_line(table, "value")
    assert "6 more trials" in line and "running: trial 8" in line
    # Sorting covers every trial, not only those on screen: the fastest of all eight comes first.
    for i, t in enumerate(study.trials[:8]):
        t.finished_at = t.started_at + (0.481 if i != 6 else 0.023)
    assert model.rows("duration")[0].number == 6
    assert model.rows("duration", descending=True)[0].number != 6


def test_ties_are_listed_oldest_first_in_both_orders():
    study = _study("maximize")
    model = DashboardModel(top_k=10)
    model.handle(StudyStarted(study, "random", 10, None))
    for i, v in enumerate([0.5, 0.9, 0.9, 0.1, 0.9]):
        _finish(study, model, i, value=v)
    assert [r.number for r in model.rows()] == [1, 2, 4, 0, 3]
    assert model.rows()[0].is_best  # the bold best (the earliest of equal values) is the first row
    assert [r.number for r in model.rows(descending=False)] == [3, 0, 1, 2, 4]


def test_maximize_sorts_high_values_first_and_any_column_sorts():
    study = _study("maximize")
    model = DashboardModel(top_k=10)
    model.handle(StudyStarted(study, "random", 5, None))
    for i, v in enumerate([0.2, 0.9, 0.5]):
        _finish(study, model, i, value=v, x=10.0 - i)
    assert [r.number for r in model.rows()] == [1, 2, 0]
    assert [r.number for r in model.rows("x")] == [2, 1, 0]
    assert [r.number for r in model.rows("x", descending=True)] == [0, 1, 2]
    assert [r.number for r in model.rows("#", descending=True)] == [2, 1, 0]


def test_failed_trials_are_marked_listed_and_sorted_last():
    study = _study()
    model = DashboardModel()
    model.handle(StudyStarted(study, "random", 5, None))
    _finish(study, model, 0, value=1.0)
    failed = _finish(study, model, 1, state=TrialState.FAILED, error="ValueError: <bad>")
    failed.traceback = "Traceback ...\nValueError: <bad>"
    failed.stdout = "printed <b>"
    rows = model.rows()
    assert [r.state for r in rows] == ["complete", "failed"]
    assert model.failed() == [failed]
    assert model.status_text() == "1 failed, running"
    page = rows_html(rows, model.params())
    assert "&lt;bad&gt;" in page and "<bad>" not in page
    assert "printed &lt;b&gt;" in page  # the captured output, one click away
    assert 'data-state="failed"' in page


def test_status_follows_pause_stop_and_end():
    study = _study()
    model = DashboardModel()
    model.handle(StudyStarted(study, "random", 5, None))
    assert model.status == "running"
    model.handle(StudyPaused(study))
    assert model.status == "paused"
    model.handle(StudyUnpaused(study))
    model.request_stop()
    assert model.status == "stopping"
    model.handle(StudyFinished(study, "stopped", "stopped on request"))
    assert model.status == "stopped" and model.finished and model.status_text() == "stopped"
    model2 = DashboardModel()
    model2.handle(StudyStarted(study, "random", 5, None))
    for i in range(5):
        _finish(study, model2, i, state=TrialState.FAILED, error="ValueError: x")
    model2.handle(StudyFinished(study, "failures", "stopped after 5 failed trials"))
    assert model2.status == "failed"
    assert model2.status_text() == "5 failed, stopped (failures in a row)"  # never "5 failed failed"
    model3 = DashboardModel()
    model3.handle(StudyStarted(_study(), "random", None, 10.0))
    model3.handle(StudyFinished(_study(), "timeout", "time limit of 10s reached"))
    assert model3.finished and model3.status_text() == "timed out"


def test_header_and_best_text():
    study = _study("maximize")
    model = DashboardModel()
    model.handle(StudyStarted(study, "bayes", 40, 600.0))
    assert model.header() == "vm · bayes · maximize ↑ · 40 trials, timeout 10:00"
    study.resource = (1, 27)
    assert model.header().endswith("40 trials, timeout 10:00 · budget 1..27 per trial")
    assert model.best_text() == "no complete trial yet"
    _finish(study, model, 0, value=0.75, x=2.5)
    assert model.best_text() == "best 0.75 (trial 0): x=2.5"


def test_sort_puts_missing_values_last():
    study = _study()
    model = DashboardModel()
    model.handle(StudyStarted(study, "random", 5, None))
    _finish(study, model, 0, value=3.0)
    _finish(study, model, 1, state=TrialState.FAILED, error="boom")
    _finish(study, model, 2, value=1.0)
    assert [r.number for r in model.rows("value", True)] == [0, 2, 1]
