"""Cells as ML code writes them, in a real IPython shell: dict markers, conditional markers, line numbers, functions
of earlier cells that read the cell's variables, a None objective, resuming a --budget study."""

from __future__ import annotations

import keyword
import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from hpmagic import load_study
from hpmagic.trial import TrialState
from tests.magic.conftest import run


def test_dict_markers_are_named_by_their_keys_and_work_through_star_star(ip: Any) -> None:
    cell = (
        'params = {"num_leaves": tune.int(4, 128), "learning_rate": tune.loguniform(1e-3, 0.3)}\n'
        "def fit(num_leaves, learning_rate):\n"
        "    return (num_leaves - 40) ** 2 / 1e4 + abs(learning_rate - 0.05)\n"
        "loss = fit(**params)\n"
        "loss\n"
    )
    assert run(ip, "--strategy random --trials 12 --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert set(study.best_params) == {"num_leaves", "learning_rate"}
    # The published dict holds the best trial's values, and so does the loss computed from it.
    assert ip.user_ns["params"] == study.best_params
    assert ip.user_ns["loss"] == study.best_value


def test_dict_marker_passed_positionally_and_nested(ip: Any) -> None:
    cell = (
        'config = {"model": {"depth": tune.int(1, 6)}, "opt": {"lr": tune.uniform(0, 1)}}\n'
        "def score(cfg):\n"
        '    return (cfg["model"]["depth"] - 3) ** 2 + cfg["opt"]["lr"]\n'
        "score(config)\n"
    )
    assert run(ip, "--strategy random --trials 10 --seed 1 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert set(study.best_params) == {"depth", "lr"}
    assert ip.user_ns["config"] == {
        "model": {"depth": study.best_params["depth"]},
        "opt": {"lr": study.best_params["lr"]},
    }


def test_a_marker_assigned_to_a_dict_item_is_named_by_its_key(ip: Any) -> None:
    cell = (
        'param = {"objective": "binary:logistic"}\n'
        'param["max_depth"] = tune.int(2, 8)\n'
        'param["eta"] = tune.loguniform(0.01, 1.0)\n'
        '(param["max_depth"] - 5) ** 2 + param["eta"]\n'
    )
    assert run(ip, "--strategy random --trials 8 --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert set(study.best_params) == {"max_depth", "eta"}
    assert ip.user_ns["param"] == {"objective": "binary:logistic", **study.best_params}


#: Variable names as Python reads them (NFKC-normalised identifiers), none of them ``tune`` or a keyword.
NAMES = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd", "Pc")), min_size=1, max_size=8).filter(
    lambda s: (
        s.isidentifier()
        and not keyword.iskeyword(s)
        and s != "tune"
        and not s.startswith("__")
        and unicodedata.normalize("NFKC", s) == s
    )
)
MARKERS = st.sampled_from(["tune.uniform(0, 1)", "tune.loguniform(1e-3, 1)", "tune.int(1, 9)", "tune.choice([2, 3])"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=2, max_size=6, unique=True), data=st.data())
def test_a_tuple_unpacked_marker_is_named_by_its_position(ip: Any, names: list[str], data: Any) -> None:
    """``lr, depth = tune.loguniform(...), tune.int(...)`` assigns each marker to a variable: it was refused as a
    marker without a name."""
    markers = data.draw(st.lists(MARKERS, min_size=len(names), max_size=len(names)))
    brackets = data.draw(st.sampled_from(["{}", "({})", "[{}]"]))
    cell = f"{brackets.format(', '.join(names))} = {', '.join(markers)}\n0.0 + {' + '.join(names)}\n"
    assert run(ip, "--strategy random --trials 3 --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert list(study.space) == names
    for trial in study.trials:
        assert trial.state is TrialState.COMPLETE
        assert trial.value == pytest.approx(sum(trial.params[n] for n in names))
    assert all(ip.user_ns[n] == study.best_params[n] for n in names)


def test_conditional_expression_names_its_marker_after_the_variable(ip: Any) -> None:
    cell = (
        'kernel = tune.choice(["linear", "rbf"])\n'
        'gamma = tune.choice([1e-3, 1e-4]) if kernel == "rbf" else "scale"\n'
        '(0.5 if kernel == "rbf" else 1.0) + (gamma if gamma != "scale" else 0)\n'
    )
    assert run(ip, "--strategy grid --storage :memory:", cell).success
    trials = ip.user_ns["tune"].study.trials
    # gamma is a parameter of the rbf trials only; the linear one does not vary it, so the grid runs it once.
    assert sorted(sorted(t.params.items()) for t in trials) == [
        [("gamma", 0.0001), ("kernel", "rbf")],
        [("gamma", 0.001), ("kernel", "rbf")],
        [("kernel", "linear")],
    ]


def test_the_same_dict_key_twice_is_an_error_naming_both_lines(ip: Any) -> None:
    cell = 'a = {"lr": tune.uniform(0, 1)}\nb = {"lr": tune.uniform(0, 2)}\na["lr"] + b["lr"]\n'
    with pytest.raises(UsageError, match=r"lines 2 and 3 both name a marker 'lr'.*name="):
        ip.run_cell_magic("tune", "--storage :memory:", cell)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("x = tune.uniform(0, 1)\ny = (x +\n", "syntax error in the cell, line 3"),
        ("x = tune.uniform(0, 1)\n\n\nprint(tune.int(1, 3))\nx\n", "line 5: tune.int(...) needs a name"),
        ("x = tune.uniform(0, 1)\ny = tune.uniform(3, 2)\nx\n", "line 3: "),
        ("x = tune.uniform(0, 1)\nfor i in range(2):\n    z = tune.int(0, 1)\nx\n", "line 4: marker 'z'"),
        ("x = tune.uniform(0, 1)\ny = tune.uniform(0, 1, name='x')\nx\n", r"lines 2 and 3"),
    ],
)
def test_error_lines_are_the_editors(ip: Any, cell: str, message: str) -> None:
    """The %%tune line is line 1 in the editor, so the cell's first line is line 2."""
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        ip.run_cell_magic("tune", "--storage :memory:", cell)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    blanks=st.lists(st.sampled_from(["", " ", "\t", "    "]), min_size=1, max_size=4),
    before=st.integers(0, 3),
    mistake=st.sampled_from(["syntax", "unnamed", "raise"]),
)
def test_error_lines_count_the_cells_leading_blank_lines(ip: Any, blanks: list[str], before: int, mistake: str) -> None:
    """IPython drops a cell's leading blank lines before hpmagic reads it; the lines it reports are still the
    editor's (they were short by the number of blank lines)."""
    bad = {"syntax": "y = (x +", "unnamed": "print(tune.int(1, 2))", "raise": "raise ValueError('bad')"}[mistake]
    lines = [*blanks, "x = tune.uniform(0, 1)", *[f"v{i} = {i}" for i in range(before)], bad, "x"]
    line = 2 + lines.index(bad)  # the %%tune line is line 1
    cell = "\n".join(lines) + "\n"
    if mistake == "raise":
        assert run(ip, "--strategy random --trials 1 --seed 0 --storage :memory:", cell).success
        assert f"line {line}, in <module>" in ip.user_ns["tune"].study.trials[0].traceback
        return
    with pytest.raises(UsageError, match=f"line {line}[:,]"):
        ip.run_cell_magic("tune", "--storage :memory:", cell)


def test_a_function_of_an_earlier_cell_sees_the_trials_value(ip: Any) -> None:
    ip.run_cell("batch_size = 1000\ndef make_model():\n    return helper() * 2\ndef helper():\n    return batch_size\n")
    cell = "batch_size = tune.int(1, 50)\nmodel = make_model()\n(model - 20) ** 2\n"
    assert run(ip, "--strategy random --trials 8 --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    # Each trial's make_model() read the trial's batch_size, not the notebook's 1000.
    for t in study.trials:
        assert t.value == (2 * t.params["batch_size"] - 20) ** 2
    # The notebook's function is untouched and still reads the notebook's globals; the published batch_size is
    # the best trial's, so calling it now gives the best model again.
    assert ip.user_ns["model"] == 2 * study.best_params["batch_size"]
    assert ip.user_ns["make_model"]() == ip.user_ns["model"]


def test_a_class_of_an_earlier_cell_reading_the_cells_variable_is_warned_about(ip: Any, capsys: Any) -> None:
    ip.run_cell("hidden = 8\nclass Net:\n    def __init__(self):\n        self.width = hidden\n")
    cell = "hidden = tune.int(1, 50)\nnet = Net()\nnet.width\n"
    assert run(ip, "--strategy random --trials 2 --seed 0 --storage :memory:", cell).success
    out = capsys.readouterr().out
    assert "class Net, defined in an earlier cell, reads hidden, which this cell assigns" in out


def test_instances_and_held_functions_reading_the_cells_variable_are_warned_about(ip: Any, capsys: Any) -> None:
    ip.run_cell(
        "lr = 0.5\ndef helper():\n    return lr\n"
        "class Trainer:\n    def fit(self):\n        return helper()\n"  # reads lr through a function it calls
        "class Quiet:\n    def fit(self):\n        return 1.0\n"
        "trainer, quiet = Trainer(), Quiet()\ncallbacks = {'on_end': lambda: lr}\n"
    )
    cell = "lr = tune.uniform(0, 1)\ntrainer.fit() + callbacks['on_end']() + quiet.fit()\n"
    assert run(ip, "--strategy random --trials 2 --seed 0 --storage :memory:", cell).success
    out = capsys.readouterr().out
    assert "trainer, an instance of class Trainer defined in an earlier cell, reads lr, which this cell assigns" in out
    assert "callbacks, which holds functions of an earlier cell, reads lr" in out
    assert "quiet" not in out  # its class reads nothing the cell assigns


def test_a_decorated_function_reading_the_cells_variable_is_warned_about(ip: Any, capsys: Any) -> None:
    ip.run_cell(
        "import functools\nlr = 0.1\ndef step(x):\n    return x * lr\n"
        "@functools.lru_cache\ndef cached():\n    return lr\nscaled = functools.partial(step, 2)\n"
    )
    cell = "lr = tune.uniform(0, 1)\ncached() + scaled()\n"
    assert run(ip, "--strategy random --trials 2 --seed 0 --storage :memory:", cell).success
    out = capsys.readouterr().out
    assert "cached, a wrapped function of an earlier cell, reads lr, which this cell assigns" in out
    assert "scaled, a wrapped function of an earlier cell, reads lr" in out


def test_a_none_objective_stops_the_study_after_one_trial(ip: Any, capsys: Any) -> None:
    cell = "x = tune.uniform(0, 1)\nprint(x)\n"
    run(ip, "--strategy random --trials 20 --seed 0 --storage :memory: --name none-objective", cell)
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 1 and study.trials[0].state is TrialState.FAILED
    out = capsys.readouterr().out
    assert "stopped after trial 0: the objective is None" in out and "print(...) returns None" in out


def test_a_none_objective_after_a_complete_trial_fails_only_that_trial(ip: Any) -> None:
    ip.user_ns["calls"] = []  # shared by the trials: only the first one returns a number
    cell = "x = tune.uniform(0, 1)\ncalls.append(x)\nx if len(calls) == 1 else None\n"
    assert run(ip, "--strategy random --trials 12 --seed 0 --storage :memory:", cell).success
    states = [t.state for t in ip.user_ns["tune"].study.trials]
    # Not a mistake every trial makes: the usual rule (5 failures in a row) ends the study.
    assert states == [TrialState.COMPLETE] + [TrialState.FAILED] * 5


BUDGET_CELL = (
    "alpha = tune.uniform(0, 1)\n"
    "history = []\n"
    "for step in tune.steps():\n"
    "    history.append(step)\n"
    "    tune.report(alpha + 1 / step, step=step)\n"
    "alpha + 1 / history[-1]\n"
)


def test_resuming_a_budget_study_publishes_the_best_trials_variables(ip: Any, capsys: Any) -> None:
    line = "--strategy random --trials 4 --seed 0 --budget 1..5 --name mf-resume --storage mf.db"
    assert run(ip, line, BUDGET_CELL).success
    best = load_study("mf-resume", "mf.db").best_trial
    ip.run_line_magic("unload_ext", "hpmagic")  # a new session: the variables are gone
    ip.run_line_magic("reset", "-f")
    ip.run_line_magic("load_ext", "hpmagic")
    assert "history" not in ip.user_ns
    # The study is complete: resuming runs nothing new, so the best trial's variables are rebuilt by replaying it.
    assert run(ip, line + " --resume", BUDGET_CELL).success
    out = capsys.readouterr().out
    assert "could not rebuild" not in out
    assert ip.user_ns["alpha"] == best.params["alpha"]
    assert ip.user_ns["history"] == [1, 2, 3, 4, 5]
