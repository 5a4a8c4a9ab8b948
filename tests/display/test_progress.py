"""The one progress model behind the text line, the HTML line and the dashboard: totals, trials in flight, ETA."""

from __future__ import annotations

import io
import types

import pytest

from hpmagic.display import TextReporter
from hpmagic.display.progress import ProgressTracker, planned_trials
from hpmagic.display.view_model import DashboardModel
from hpmagic.events import StudyFinished, StudyStarted, TrialFinished, TrialStarted
from hpmagic.space import Float, Space
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState


def _study():
    return create_study(space=Space({"x": Float(0, 1)}), name="pm")


def _start(tracker, study, number):
    trial = Trial(number=number, params={"x": 0.5}, started_at=100.0)
    study.trials.append(trial)
    tracker.handle(TrialStarted(study, trial))
    return trial


def _end(tracker, study, trial, seconds=2.0):
    trial.state, trial.value, trial.finished_at = TrialState.COMPLETE, 1.0, trial.started_at + seconds
    tracker.handle(TrialFinished(study, trial, False))


def test_a_known_schedule_is_the_total():
    study = _study()
    study._strategy = types.SimpleNamespace(planned_trials=33)
    assert planned_trials(study) == 33
    tracker = ProgressTracker()
    tracker.handle(StudyStarted(study, "hyperband", 100, None))
    assert tracker.total == 33 and tracker.progress().text.startswith("0/33 trials")
    tracker2 = ProgressTracker()
    tracker2.handle(StudyStarted(study, "hyperband", 20, None))
    assert tracker2.total == 20  # whichever ends the study first
    study._strategy = types.SimpleNamespace(planned_trials=None)
    tracker3 = ProgressTracker()
    tracker3.handle(StudyStarted(study, "hyperband", 20, None))
    assert tracker3.total == 20
    tracker4 = ProgressTracker()
    tracker4.handle(StudyStarted(study, "hyperband", None, None, 46))  # the engine passes it on the event
    assert tracker4.total == 46 and tracker4.progress().text.startswith("0/46 trials")


def test_eta_counts_the_trials_that_run_at_once():
    study = _study()
    tracker = ProgressTracker()
    tracker.handle(StudyStarted(study, "random", 8, None))
    running = [_start(tracker, study, n) for n in range(4)]
    assert tracker.progress().running == 4 and "4 running" in tracker.progress().text
    assert tracker.eta(0.0) is None  # nothing finished, no duration known yet
    _end(tracker, study, running[0], seconds=2.0)
    # One 2 s trial done, 3 in flight, 4 waiting: two waves of four at 2 s each.
    assert tracker.eta(0.0) == pytest.approx(4.0)
    _end(tracker, study, running[1])
    _end(tracker, study, running[2])
    _end(tracker, study, running[3])
    # Four done in 2 s of run time: the same rate gives the four left in 2 s, not 8 s one after the other.
    assert tracker.eta(2.0) == pytest.approx(2.0)


def test_text_and_dashboard_share_the_progress_line():
    study = _study()
    out = io.StringIO()
    reporter = TextReporter(stream=out, min_interval=0.0, table=False)
    model = DashboardModel()
    for view in (reporter, model):
        view(StudyStarted(study, "random", 5, None))
    trial = Trial(number=0, params={"x": 0.5})
    study.trials.append(trial)
    for view in (reporter, model):
        view(TrialStarted(study, trial))
    trial.state, trial.value, trial.finished_at = TrialState.COMPLETE, 0.5, trial.started_at + 0.1
    study._update_best(trial)
    for view in (reporter, model):
        view(TrialFinished(study, trial, True))
    assert reporter.progress.tracker.total == model.tracker.total == 5
    assert "1/5 trials" in out.getvalue() and model.progress().text.startswith("1/5 trials")
    for view in (reporter, model):
        view(StudyFinished(study, "timeout", "time limit of 1s reached"))
    assert "pm: timed out: time limit of 1s reached" in out.getvalue()
    assert model.status_text() == "timed out"


def test_a_stored_study_shows_its_own_elapsed_time():
    study = _study()
    for n, (start, end) in enumerate([(1000.0, 1030.0), (1030.0, 1095.0)]):
        study.trials.append(
            Trial(number=n, params={"x": 0.1}, state=TrialState.COMPLETE, value=0.1, started_at=start, finished_at=end)
        )
    model = DashboardModel()
    model.load(study)
    assert model.progress().elapsed == pytest.approx(95.0)
    assert model.progress().text == "2 trials · 1:35"
