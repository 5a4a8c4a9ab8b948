"""Several objectives through ``%%tune`` in a real IPython shell: names, directions, primary, Pareto set, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import hpmagic
from hpmagic import TrialState
from hpmagic.pareto import dominates
from hpmagic.types import Direction
from tests.magic.conftest import run

DICT_CELL = (
    "x = tune.uniform(0, 1)\n"
    "depth = tune.int(1, 6)\n"
    "accuracy = 1 - (x - 0.7) ** 2 - 0.01 * depth\n"
    "latency = 10 * x + depth\n"
    "{'accuracy': accuracy, 'latency': latency}\n"
)
TUPLE_CELL = "x = tune.uniform(0, 1)\nx ** 2, (x - 1) ** 2\n"


def test_a_dict_objective_names_its_objectives_and_keeps_the_pareto_set(ip):
    result = run(ip, "--strategy random --trials 16 --seed 0 --maximize accuracy --minimize latency", DICT_CELL)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["accuracy", "latency"] and study.is_multi_objective
    assert study.directions == [Direction.MAXIMIZE, Direction.MINIMIZE]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert len(complete) == 16
    for t in complete:
        x, depth = t.params["x"], t.params["depth"]
        assert t.values == pytest.approx([1 - (x - 0.7) ** 2 - 0.01 * depth, 10 * x + depth])
        assert t.value == t.values[0]  # the primary objective: the first
    front = study.best_trials
    assert front
    losses = {t.number: np.array([-t.values[0], t.values[1]]) for t in complete}
    for t in complete:
        beaten = any(dominates(losses[o.number], losses[t.number]) for o in complete)
        assert (t in front) is not beaten
    with pytest.raises(ValueError, match="best_trials"):
        _ = study.best_trial
    # Published: the front's best on the primary objective, with its variables.
    best = max(front, key=lambda t: t.values[0])
    assert ip.user_ns["tune"].best == best.params
    assert ip.user_ns["latency"] == pytest.approx(best.values[1])
    table = study.summary()
    assert "accuracy ↑" in table and "latency ↓" in table and "front" in table
    frame = study.to_dataframe()
    assert {"accuracy", "latency", "pareto_front"} <= set(frame.columns)
    assert set(frame.loc[frame["pareto_front"], "number"]) == {t.number for t in front}


def test_a_tuple_objective_with_directions_by_position_and_a_primary(ip):
    result = run(ip, "--strategy random --trials 8 --seed 1 --directions min,max --primary 'objective 1'", TUPLE_CELL)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["objective 0", "objective 1"]
    assert study.directions == [Direction.MINIMIZE, Direction.MAXIMIZE]
    assert study.primary_index == 1 and study.direction is Direction.MAXIMIZE
    for t in study.trials:
        assert t.value == pytest.approx((t.params["x"] - 1) ** 2) == t.values[1]
    # The primary's best is on the front and is what was published.
    best = max(study.trials, key=lambda t: t.values[1])
    assert study.primary_best is best and best in study.best_trials
    assert ip.user_ns["x"] == best.params["x"]


def test_names_given_by_option_order_a_tuple_objective(ip):
    assert run(ip, "--strategy random --trials 4 --seed 2 --minimize a --maximize b", TUPLE_CELL).success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["a", "b"]
    assert study.directions == [Direction.MINIMIZE, Direction.MAXIMIZE]


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("--directions max", TUPLE_CELL, "1 direction\\(s\\) given \\(maximize\\) for 2 objective"),
        ("--directions max,min,min", TUPLE_CELL, "3 direction\\(s\\) given"),
        ("--directions up,down", TUPLE_CELL, "--directions takes max or min"),
        ("--maximize accuracy --minimize size", DICT_CELL, "'size' is not a key of the objective dict"),
        ("--minimize a --minimize b --minimize c", TUPLE_CELL, "3 objective name\\(s\\) given \\(a, b, c\\)"),
        ("--maximize accuracy --directions max,min", DICT_CELL, "not both"),
        ("--maximize accuracy --primary speed", DICT_CELL, "the primary objective 'speed' is not one"),
        ("--primary x", "x = tune.uniform(0, 1)\nx\n", "applies to several objectives"),
        ("--maximize --minimize", TUPLE_CELL, "exclude each other"),
    ],
)
def test_bad_objective_options_are_one_line_usage_errors_before_any_trial(ip, line, cell, message):
    with pytest.raises(UsageError, match=message) as info:
        ip.run_cell_magic("tune", f"--strategy random --trials 3 --name bad {line}", cell)
    assert len(str(info.value).splitlines()) == 1
    store = hpmagic.Storage("hpmagic.db")
    assert [s["name"] for s in store.list_studies()] == []
    store.close()


BAD_ENTRIES = st.sampled_from(["float('nan')", "'fast'", "None", "float('inf')", "[1, 2]"])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=BAD_ENTRIES, extra=st.integers(1, 2))
def test_a_trial_whose_values_do_not_fit_fails_with_one_line_and_the_study_goes_on(ip, bad, extra):
    # Trials with x < 0.5 give a bad entry; those with x > 0.8 give too many values; the rest are fine.
    cell = (
        "x = tune.uniform(0, 1)\n"
        f"good = (x, 1 - x)\nbad = (x, {bad})\nlong = (x, 1 - x) + (0.0,) * {extra}\n"
        "bad if x < 0.5 else long if x > 0.8 else good\n"
    )
    result = run(ip, "--strategy random --trials 12 --seed 3 --max-failures 20 --directions min,min", cell)
    assert result.success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 12
    for t in study.trials:
        x = t.params["x"]
        if x < 0.5:
            assert t.state is TrialState.FAILED and t.error.startswith("objective 1: the objective")
        elif x > 0.8:
            assert t.state is TrialState.FAILED
            assert t.error.startswith(f"the objective has {2 + extra} value(s), the study has 2 objectives")
        else:
            assert t.state is TrialState.COMPLETE and t.values == pytest.approx([x, 1 - x])
        assert t.error is None or len(t.error.splitlines()) == 1
    assert all(t.state is TrialState.COMPLETE for t in study.best_trials)


def test_a_dict_missing_a_key_fails_that_trial(ip):
    cell = "x = tune.uniform(0, 1)\nscores = {'a': x, 'b': 1 - x} if x < 0.5 else {'a': x}\nscores\n"
    assert run(ip, "--strategy random --trials 8 --seed 4 --minimize a --minimize b --max-failures 20", cell).success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["a", "b"]
    for t in study.trials:
        if t.params["x"] < 0.5:
            assert t.state is TrialState.COMPLETE
        else:
            assert t.error == "the objective dict lacks 'b'; the study's objectives are a, b"


def test_resume_keeps_the_objectives_and_refuses_others(ip):
    line = "--strategy random --seed 5 --name mo --maximize accuracy --minimize latency"
    assert run(ip, f"{line} --trials 4", DICT_CELL).success
    assert run(ip, f"{line} --trials 7 --resume", DICT_CELL).success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 7 and all(t.values is not None for t in study.trials)
    reopened = hpmagic.load_study("mo", "hpmagic.db")
    assert reopened.objective_names == ["accuracy", "latency"]
    assert [t.number for t in reopened.best_trials] == [t.number for t in study.best_trials]
    with pytest.raises(UsageError, match="has objectives accuracy \\(maximize\\), latency \\(minimize\\)"):
        ip.run_cell_magic(
            "tune", "--strategy random --seed 5 --name mo --trials 9 --resume --minimize accuracy", DICT_CELL
        )
    assert len(hpmagic.load_study("mo", "hpmagic.db").trials) == 7


def test_a_multi_objective_study_under_asha_uses_the_primary(ip):
    cell = (
        "x = tune.uniform(0, 1)\n"
        "for step in tune.steps():\n"
        "    loss = (x - 0.3) ** 2 + 1 / step\n"
        "    tune.report(loss)\n"
        "{'loss': loss, 'size': x * 100}\n"
    )
    line = "--strategy random --scheduler asha --budget 1..9 --trials 12 --seed 6 --minimize loss --minimize size"
    assert run(ip, line, cell).success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["loss", "size"]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert complete and all(t.values is not None and t.value == t.values[0] for t in complete)
    budgets = {t.user_attrs.get("budget") for t in study.trials}
    assert len(budgets) > 1  # the scheduler ran trials at several budgets from the primary objective's reports
    assert study.best_trials


def test_use_best_publishes_the_front_best_on_the_primary_or_the_trial_picked(ip, monkeypatch):
    import hpmagic.magic.magics as magics

    callbacks = {}
    real = magics.make_reporter

    def recording(*args, **kwargs):  # the real reporter; its callbacks kept so the test can press the buttons
        callbacks.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(magics, "make_reporter", recording)
    line = "--strategy random --trials 10 --seed 7 --maximize accuracy --minimize latency --primary latency"
    assert run(ip, line, DICT_CELL).success
    study = ip.user_ns["tune"].study
    fastest = min(study.trials, key=lambda t: t.values[1])
    message = callbacks["on_use_best"]()
    assert message.startswith(f"published trial {fastest.number} (of the Pareto front, the best on latency)")
    assert ip.user_ns["tune"].best == fastest.params
    other = max(study.best_trials, key=lambda t: t.values[0])
    assert other is not fastest
    message = callbacks["on_use_trial"](other.number)
    assert message.startswith(f"published trial {other.number}: tune.best and ")
    assert ip.user_ns["tune"].best == other.params
    assert ip.user_ns["accuracy"] == pytest.approx(other.values[0])  # its variables, rebuilt by running it again
    assert "not a complete trial" in callbacks["on_use_trial"](999)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 4), directions=st.lists(st.sampled_from(["max", "min"]), min_size=1, max_size=5))
def test_generated_direction_lists_must_match_the_tuple(ip, n, directions):
    cell = "x = tune.uniform(0, 1)\n" + ", ".join(f"x * {i}" for i in range(1, n + 1)) + "\n"
    line = f"--strategy random --trials 2 --seed 0 --storage :memory: --directions {','.join(directions)}"
    if len(directions) == n:
        assert run(ip, line, cell).success
        study = ip.user_ns["tune"].study
        assert study.directions == [Direction.MAXIMIZE if d == "max" else Direction.MINIMIZE for d in directions]
        assert all(len(t.values) == n for t in study.trials)
    else:
        with pytest.raises(UsageError, match=f"{len(directions)} direction\\(s\\) given .* for {n} objective") as info:
            ip.run_cell_magic("tune", line, cell)
        assert len(str(info.value).splitlines()) == 1


def test_several_objectives_with_workers(ip):
    line = "--strategy random --trials 6 --seed 8 --jobs 2 --maximize accuracy --minimize latency"
    assert run(ip, line, DICT_CELL).success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 6
    for t in study.trials:
        x, depth = t.params["x"], t.params["depth"]
        assert t.values == pytest.approx([1 - (x - 0.7) ** 2 - 0.01 * depth, 10 * x + depth])
    best = max(study.best_trials, key=lambda t: t.values[0])
    assert ip.user_ns["tune"].best == best.params


def test_objective_option_with_a_tuple_expression(ip):
    cell = "x = tune.uniform(0, 1)\naccuracy = 1 - (x - 0.5) ** 2\nsize = 100 * x\nprint('trained')\n"
    line = "--strategy random --trials 5 --seed 9 --objective 'accuracy, size' --maximize accuracy --minimize size"
    assert run(ip, line, cell).success
    study = ip.user_ns["tune"].study
    assert study.objective_names == ["accuracy", "size"]
    assert study.directions == [Direction.MAXIMIZE, Direction.MINIMIZE]
    assert all(t.values == pytest.approx([1 - (t.params["x"] - 0.5) ** 2, 100 * t.params["x"]]) for t in study.trials)


@pytest.mark.parametrize(("options", "ehvi"), [("", True), ("--options multi_objective=parego", False)])
def test_bayes_on_two_objectives_uses_ehvi_unless_told_parego(ip, options, ehvi):
    result = run(
        ip, f"--strategy bayes --trials 12 --seed 2 --maximize accuracy --minimize latency {options}", DICT_CELL
    )
    assert result.success
    study = ip.user_ns["tune"].study
    sampler = study._strategy._sampler()
    assert sampler._uses_ehvi() is ehvi and sampler.n_model_asks > 0 and sampler.n_fallbacks == 0
    assert len(sampler._objective_models) == (2 if ehvi else 0)
    assert len([t for t in study.trials if t.state is TrialState.COMPLETE]) == 12


def test_an_unknown_multi_objective_mode_is_a_usage_error(ip):
    with pytest.raises(UsageError, match="multi_objective must be 'auto', 'ehvi' or 'parego'") as info:
        ip.run_cell_magic(
            "tune", "--strategy bayes --trials 4 --options multi_objective=nsga --maximize accuracy", DICT_CELL
        )
    assert len(str(info.value).splitlines()) == 1
