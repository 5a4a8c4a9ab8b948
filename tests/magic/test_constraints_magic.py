"""``%%tune --constraint`` in a real IPython shell: feasible best, published variables, bad input, resume."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import hpmagic
from hpmagic import TrialState
from tests.magic.conftest import run

CELL = "x = tune.uniform(-3, 3)\ny = tune.uniform(-3, 3)\nlatency = abs(x) * 10\n(x - 2) ** 2 + y ** 2\n"


def test_constraint_picks_the_best_feasible_trial_and_publishes_its_variables(ip):
    result = run(ip, "--strategy random --trials 25 --seed 0 --name c --constraint 'latency <= 10'", CELL)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.constraints == ["latency <= 10"]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert any(not t.feasible for t in complete)
    for t in complete:
        assert t.violations == [pytest.approx(max(0.0, abs(t.params["x"]) * 10 - 10))]
    best = min((t for t in complete if t.feasible), key=lambda t: t.value)
    assert study.best_trial is best
    assert min(t.value for t in complete) < best.value  # a better trial exists, but it misses the constraint
    assert ip.user_ns["latency"] == pytest.approx(abs(best.params["x"]) * 10)
    assert ip.user_ns["latency"] <= 10
    assert ip.user_ns["tune"].best == best.params


def test_several_constraints_and_a_chained_one(ip):
    line = "--strategy random --trials 12 --seed 1 --constraint 'latency <= 20' --constraint '-1 <= y <= 1'"
    assert run(ip, line, CELL).success
    study = ip.user_ns["tune"].study
    assert study.constraints == ["latency <= 20", "-1 <= y <= 1"]
    for t in study.trials:
        y = t.params["y"]
        assert t.violations[1] == pytest.approx(max(0.0, -1 - y, y - 1))


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        ("'latency == 10'", "compares with ==; use <, <=, > or >="),
        ("'latency'", "is not a comparison"),
        ("'latency <'", "is not valid Python"),
    ],
)
def test_a_constraint_that_is_not_a_comparison_is_a_usage_error_before_any_trial(ip, tmp_path, constraint, message):
    with pytest.raises(UsageError, match=message) as info:
        ip.run_cell_magic("tune", f"--trials 3 --constraint {constraint}", CELL)
    assert len(str(info.value).splitlines()) == 1
    assert not (tmp_path / "hpmagic.db").exists() or not hpmagic.Storage("hpmagic.db").list_studies()


def test_a_name_the_cell_does_not_define_stops_the_study_after_the_first_trial(ip):
    result = run(ip, "--strategy random --trials 10 --seed 0 --name u --constraint 'latncy <= 10'", CELL)
    assert result.success  # the study ends with a message, not a traceback
    study = ip.user_ns["tune"].study
    [trial] = study.trials
    assert trial.state is TrialState.FAILED
    assert trial.error == "constraint 'latncy <= 10' names 'latncy', which the trial does not define"
    assert study.last_finish.message.startswith("stopped after trial 0: constraint 'latncy <= 10'")


def test_resume_keeps_the_trials_and_refuses_other_constraints(ip, tmp_path):
    line = "--strategy random --seed 0 --name r --constraint 'latency <= 10'"
    assert run(ip, f"{line} --trials 6", CELL).success
    first = [(t.number, t.violations) for t in ip.user_ns["tune"].study.trials]
    assert run(ip, f"{line} --trials 10 --resume", CELL).success
    study = ip.user_ns["tune"].study
    assert [(t.number, t.violations) for t in study.trials[:6]] == first
    assert len(study.trials) == 10 and all(t.violations is not None for t in study.trials)
    assert study.best_trial.feasible
    with pytest.raises(UsageError, match="constraints"):
        ip.run_cell_magic("tune", "--strategy random --seed 0 --name r --trials 12 --resume", CELL)
    assert len(hpmagic.load_study("r", tmp_path / "hpmagic.db").trials) == 10


def test_help_documents_the_constraint_option(ip, capsys):
    ip.run_cell("%%tune?\n")
    out = capsys.readouterr().out
    assert "--constraint" in out and "latency <= 10" in out
