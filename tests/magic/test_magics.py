"""The %%tune magic in a real IPython shell: registration, options, namespace, persistence, errors."""

from __future__ import annotations

import keyword
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import hpmagic
from hpmagic import TrialState
from tests.magic.conftest import run

QUADRATIC = "x = tune.uniform(-3, 3)\ny = tune.int(0, 4)\n(x - 1) ** 2 + (y - 2) ** 2\n"


def test_load_registers_magic_and_tune_and_unload_removes_them(ip):
    assert "tune" in ip.magics_manager.magics["cell"]
    assert ip.user_ns["tune"] is hpmagic.tune
    ip.run_line_magic("unload_ext", "hpmagic")
    assert "tune" not in ip.magics_manager.magics["cell"]
    assert "tune" not in ip.user_ns
    assert not any(type(c).__name__ == "TuneMagics" for c in ip.configurables)
    ip.run_line_magic("load_ext", "hpmagic")
    assert "tune" in ip.magics_manager.magics["cell"]


def test_help_documents_every_option(ip, capsys):
    ip.run_cell("%%tune?\n")
    out = capsys.readouterr().out
    for option in (
        "--strategy",
        "--trials",
        "--timeout",
        "--seed",
        "--maximize",
        "--objective",
        "--max-failures",
        "--grid-points",
        "--grid-sample",
        "--storage",
        "--name",
        "--resume",
        "--out",
        "--threads",
    ):
        assert option in out


def test_config_sets_default_storage_and_strategy(ip, tmp_path):
    ip.run_line_magic("config", "TuneMagics.storage = 'configured.db'")
    ip.run_line_magic("config", "TuneMagics.strategy = 'random'")
    ip.run_line_magic("config", "TuneMagics.trials = 4")
    result = run(ip, "--seed 1", QUADRATIC)
    assert result.success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == "random"
    assert len(study.trials) == 4
    assert (tmp_path / "configured.db").exists()
    assert [s["name"] for s in hpmagic.Storage(tmp_path / "configured.db").list_studies()] == [study.name]


def test_study_publishes_best_variables_params_and_study(ip):
    ip.run_cell("from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)\nmodel = 'untouched'")
    cell = (
        "from sklearn.linear_model import LogisticRegression\n"
        "C = tune.loguniform(1e-3, 10)\n"
        "model = LogisticRegression(C=C, max_iter=300).fit(X, y)\n"
        "model.score(X, y)\n"
    )
    result = run(ip, "--strategy random --trials 6 --seed 0 --maximize --out my_study", cell)
    assert result.success
    study = ip.user_ns["my_study"]
    assert study is ip.user_ns["tune"].study
    best = study.best_trial
    assert ip.user_ns["tune"].best == best.params
    assert ip.user_ns["C"] == best.params["C"]
    model = ip.user_ns["model"]
    assert model.C == best.params["C"]  # the best trial's model, not the last trial's
    assert model.score(ip.user_ns["X"], ip.user_ns["y"]) == pytest.approx(best.value)


def test_trials_do_not_leak_into_each_other_or_the_notebook(ip):
    ip.run_cell("seen = []\ncounter = 0")
    cell = "x = tune.uniform(0, 1)\nassert 'leak' not in dir()\nleak = 1\ncounter = counter + 1\nseen.append(x)\nx\n"
    assert run(ip, "--strategy random --trials 5 --seed 0", cell).success
    study = ip.user_ns["tune"].study
    assert all(t.state is TrialState.COMPLETE for t in study.trials)  # no trial saw another's `leak`
    # The namespace is copied shallowly: rebinding stays in the trial (only the best trial's result is published),
    # mutating a shared object is visible, as documented.
    assert ip.user_ns["counter"] == 1
    assert len(ip.user_ns["seen"]) == 5


def test_trial_output_is_captured_not_printed(ip, capsys):
    cell = "x = tune.uniform(0, 1)\nprint('noisy training log', x)\nimport sys\nprint('warn', file=sys.stderr)\nx\n"
    assert run(ip, "--strategy random --trials 3 --seed 0", cell).success
    captured = capsys.readouterr()
    assert "noisy training log" not in captured.out + captured.err
    trial = ip.user_ns["tune"].study.trials[0]
    assert trial.stdout.startswith("noisy training log")
    assert trial.stderr == "warn\n"


def test_maximize_and_minimize_are_honoured(ip):
    run(ip, "--strategy random --trials 8 --seed 2 --maximize --storage :memory:", "x = tune.uniform(0, 1)\nx\n")
    study = ip.user_ns["tune"].study
    assert study.direction == "maximize"
    assert study.best_value == max(t.value for t in study.trials)
    run(ip, "--strategy random --trials 8 --seed 2 --storage :memory:", "x = tune.uniform(0, 1)\nx\n")
    study = ip.user_ns["tune"].study
    assert study.direction == "minimize"
    assert study.best_value == min(t.value for t in study.trials)


def test_objective_option_is_evaluated_after_the_cell(ip):
    cell = "x = tune.uniform(-2, 2)\nloss = (x - 0.5) ** 2\n"
    assert run(ip, "--strategy random --trials 5 --seed 0 --objective 'loss * 10'", cell).success
    for trial in ip.user_ns["tune"].study.trials:
        assert trial.value == pytest.approx((trial.params["x"] - 0.5) ** 2 * 10)


@pytest.mark.parametrize("strategy", ["grid", "random", "bayes"])
def test_each_strategy_runs_end_to_end(ip, strategy):
    line = f"--strategy {strategy} --trials 15 --seed 0 --grid-points 3 --name s-{strategy}"
    assert run(ip, line, QUADRATIC).success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == strategy
    assert 1 <= len(study.trials) <= 15
    assert all(-3 <= t.params["x"] <= 3 and t.params["y"] in range(5) for t in study.trials)
    assert all(isinstance(t.params["y"], int) for t in study.trials)


def test_grid_tries_every_combination_without_a_budget(ip):
    cell = "lr = tune.loguniform(1e-3, 1e-1)\nk = tune.choice(['a', 'b'])\nlr * (2 if k == 'a' else 1)\n"
    assert run(ip, "--strategy grid --grid-points 3", cell).success
    study = ip.user_ns["tune"].study
    combos = {(round(t.params["lr"], 6), t.params["k"]) for t in study.trials}
    assert combos == {(lr, k) for lr in (0.001, 0.01, 0.1) for k in ("a", "b")}
    assert study.last_finish.reason == "exhausted"


def test_oversized_grid_is_refused_with_count_unless_sampled(ip, tmp_path):
    cell = "a = tune.int(1, 10)\nb = tune.int(1, 10)\na + b\n"
    with pytest.raises(UsageError, match="100 combinations"):
        ip.run_cell_magic("tune", "--strategy grid --trials 10", cell)
    assert not (tmp_path / "hpmagic.db").exists() or not hpmagic.Storage("hpmagic.db").list_studies()
    assert run(ip, "--strategy grid --trials 10 --grid-sample --seed 0", cell).success
    params = [(t.params["a"], t.params["b"]) for t in ip.user_ns["tune"].study.trials]
    assert len(params) == 10 and len(set(params)) == 10


def test_seed_reproduces_the_sequence(ip):
    for strategy in ("random", "bayes"):
        sequences = []
        for _ in range(2):
            run(ip, f"--strategy {strategy} --trials 12 --seed 7 --storage :memory:", QUADRATIC)
            sequences.append([t.params for t in ip.user_ns["tune"].study.trials])
        assert sequences[0] == sequences[1]
        run(ip, f"--strategy {strategy} --trials 12 --seed 8 --storage :memory:", QUADRATIC)
        assert [t.params for t in ip.user_ns["tune"].study.trials] != sequences[0]


def test_failing_trials_are_kept_and_study_goes_on(ip):
    cell = "x = tune.uniform(0, 1)\nif x < 0.5:\n    raise ValueError('too small')\nfloat('nan') if x > 0.9 else x\n"
    assert run(ip, "--strategy random --trials 20 --seed 0", cell).success
    trials = ip.user_ns["tune"].study.trials
    assert len(trials) == 20
    failed = [t for t in trials if t.state is TrialState.FAILED]
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert failed and complete
    raised = [t for t in failed if t.params["x"] < 0.5]
    assert all("ValueError: too small" in t.error for t in raised)
    # Line 4 as the editor shows it: the %%tune line is line 1.
    assert all("line 4" in t.traceback and "hpmagic" not in t.traceback for t in raised)
    assert all("nan" in t.error for t in failed if t.params["x"] > 0.9)
    assert all(0.5 <= t.value <= 0.9 for t in complete)


def test_max_failures_stops_a_study_that_always_fails(ip, capsys):
    cell = "x = tune.uniform(0, 1)\nundefined_name + x\n"
    assert run(ip, "--strategy random --trials 50 --max-failures 3", cell).success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 3
    assert study.last_finish.reason == "failures"
    out = capsys.readouterr().out
    assert "3 failed trials in a row" in out
    assert "NameError: name 'undefined_name' is not defined" in out


def test_keyboard_interrupt_ends_study_cleanly(ip, capsys):
    ip.run_cell("calls = [0]")
    cell = "x = tune.uniform(0, 1)\ncalls[0] += 1\nif calls[0] == 4:\n    raise KeyboardInterrupt\nx\n"
    result = run(ip, "--strategy random --trials 10 --seed 0 --name interrupted", cell)
    assert result.success  # no traceback: the magic ended the study itself
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    study = ip.user_ns["tune"].study
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.INTERRUPTED]
    assert study.last_finish.reason == "interrupted"
    with sqlite3.connect("hpmagic.db") as conn:
        stored = conn.execute("SELECT state FROM trials ORDER BY number").fetchall()
    assert [s for (s,) in stored] == ["complete"] * 3 + ["interrupted"]
    assert ip.run_cell("1 + 1").result == 2  # the notebook stays usable


def test_resume_continues_without_repeating_and_rebuilds_best_variables(ip):
    cell = "x = tune.uniform(-3, 3)\nresult = {'x': x}\n(x - 1) ** 2\n"
    run(ip, "--strategy random --trials 5 --seed 4 --name resumable", cell)
    first = [(t.number, t.params, t.value) for t in ip.user_ns["tune"].study.trials]
    # A kernel restart: a fresh namespace, the same store file.
    ip.run_line_magic("unload_ext", "hpmagic")
    ip.run_line_magic("reset", "-f")
    ip.run_line_magic("load_ext", "hpmagic")
    hpmagic.tune._forget()
    run(ip, "--strategy random --trials 9 --seed 4 --name resumable --resume", cell)
    study = ip.user_ns["tune"].study
    assert study.name == "resumable"
    assert [(t.number, t.params, t.value) for t in study.trials[:5]] == first
    assert [t.number for t in study.trials] == list(range(9))
    xs = [t.params["x"] for t in study.trials]
    assert len(set(xs)) == 9
    assert ip.user_ns["result"] == {"x": study.best_trial.params["x"]}


def test_rerun_without_resume_starts_a_new_study(ip):
    run(ip, "--strategy random --trials 2 --seed 0 --name again", QUADRATIC)
    run(ip, "--strategy random --trials 2 --seed 0 --name again", QUADRATIC)
    names = [s["name"] for s in hpmagic.Storage("hpmagic.db").list_studies()]
    assert sorted(names) == ["again", "again (2)"]


def test_default_study_name_comes_from_the_cell(ip):
    run(ip, "--strategy random --trials 2", QUADRATIC)
    first = ip.user_ns["tune"].study.name
    run(ip, "--strategy random --trials 2", QUADRATIC.replace("-3, 3", "-2, 2"))
    second = ip.user_ns["tune"].study.name
    assert first.startswith("cell-") and second.startswith("cell-") and first != second


def test_conditional_and_loop_markers(ip):
    cell = (
        "kind = tune.choice(['linear', 'deep'])\n"
        "if kind == 'deep':\n"
        "    layers = tune.int(1, 3)\n"
        "    widths = [tune.int(4, 64, log=True, name=f'units_{i}') for i in range(layers)]\n"
        "else:\n"
        "    widths = []\n"
        "len(widths) + sum(widths) / 100\n"
    )
    assert run(ip, "--strategy random --trials 15 --seed 1", cell).success
    study = ip.user_ns["tune"].study
    assert set(study.space) == {"kind", "layers"}
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        if t.params["kind"] == "linear":
            assert set(t.params) == {"kind"}
        else:
            units = sorted(k for k in t.params if k.startswith("units_"))
            assert units == [f"units_{i}" for i in range(t.params["layers"])]
            assert all(4 <= t.params[u] <= 64 for u in units)
    assert run(ip, "--strategy bayes --trials 12 --seed 1 --storage :memory:", cell).success


def test_grid_refuses_markers_created_at_run_time(ip):
    cell = "n = tune.int(1, 3)\nws = [tune.int(1, 4, name=f'w{i}') for i in range(n)]\nsum(ws)\n"
    with pytest.raises(UsageError, match="grid strategy needs every parameter"):
        ip.run_cell_magic("tune", "--strategy grid", cell)


def test_markers_outside_a_study(ip, capsys):
    ip.run_cell("v = tune.uniform(0, 1, default=0.25)")
    assert ip.user_ns["v"] == 0.25
    result = ip.run_cell("w = tune.uniform(0, 1)")
    assert not result.success
    err = capsys.readouterr()
    assert "has no value outside a study" in err.out + err.err
    assert "Traceback" not in err.out + err.err
    run(
        ip,
        "--strategy random --trials 6 --seed 0 --name outside",
        "w = tune.uniform(0, 1)\nk = tune.int(1, 3)\nw + k\n",
    )
    best = ip.user_ns["tune"].study.best_trial.params
    ip.run_cell("w = tune.uniform(0, 1)\nk = tune.int(1, 3)")
    assert ip.user_ns["w"] == best["w"] and ip.user_ns["k"] == best["k"]
    # After a kernel restart the value comes from the store.
    hpmagic.tune._forget()
    ip.run_line_magic("unload_ext", "hpmagic")
    ip.run_line_magic("load_ext", "hpmagic")
    hpmagic.tune.storage_path = None  # as in a new process
    ip.run_line_magic("unload_ext", "hpmagic")
    ip.run_line_magic("load_ext", "hpmagic")  # points markers at the configured store, hpmagic.db here
    ip.run_cell("w = tune.uniform(0, 1)")
    assert ip.user_ns["w"] == best["w"]


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("--strategy bayse", QUADRATIC, "unknown strategy 'bayse'"),
        ("--bogus", QUADRATIC, "unknown option"),
        ("--timeout soon", QUADRATIC, "--timeout takes a duration"),
        ("--trials many", QUADRATIC, "--trials takes an integer"),
        ("--trials 0", QUADRATIC, "--trials takes an integer >= 1"),
        ("--maximize --minimize", QUADRATIC, "exclude each other"),
        ("", "x = tune.uniform(1, 0)\nx\n", "low must be below high"),
        ("", "x = tune.loguniform(0, 1)\nx\n", "log-scale bound must be > 0"),
        ("", "x = tune.choice([])\nx\n", "at least one choice"),
        ("", "x = tune.uniform(0, 1)\nz = tune.uniform(0, 2, name='x')\nx\n", "defined twice"),
        ("", "x = tune.uniform(0, not_defined_anywhere)\nx\n", "cannot be evaluated"),
        ("", "x = tune.uniform(0, 1)\ny = (x +\n", "syntax error in the cell, line 3"),
        ("", "x = 1\nx\n", "no hyperparameter markers"),
        ("", "x = tune.uniform(0, 1)\ny = x\n", "must end with an expression"),
        ("", "print(tune.uniform(0, 1))\n1\n", "needs a name"),
        ("", "for i in range(2):\n    x = tune.uniform(0, 1)\nx\n", "inside a loop"),
        ("--objective 'x +'", "x = tune.uniform(0, 1)\n", "syntax error in --objective"),
    ],
)
def test_bad_input_is_a_short_usage_error_before_anything_runs(ip, tmp_path, line, cell, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("+", r"\+")) as info:
        ip.run_cell_magic("tune", line, cell)
    assert "Traceback" not in str(info.value)
    assert len(str(info.value).splitlines()) <= 3
    assert not (tmp_path / "hpmagic.db").exists() or not hpmagic.Storage("hpmagic.db").list_studies()


def test_corrupt_store_gives_a_clear_error_and_is_not_overwritten(ip, tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database, but somebody's data" * 100)
    before = path.read_bytes()
    with pytest.raises(UsageError, match="not a readable hpmagic study store"):
        ip.run_cell_magic("tune", f"--storage {path}", QUADRATIC)
    assert path.read_bytes() == before


def test_timeout_ends_the_study_before_the_trial_budget(ip):
    cell = "import time\nx = tune.uniform(0, 1)\ntime.sleep(0.1)\nx\n"
    assert run(ip, "--strategy random --trials 1000 --timeout 0.5s --seed 0", cell).success
    study = ip.user_ns["tune"].study
    assert 1 <= len(study.trials) < 1000
    assert study.last_finish.reason == "timeout"
    # Every trial but a last one that the time limit interrupted ran to its end.
    assert all(t.state is TrialState.COMPLETE for t in study.trials[:-1])
    last = study.trials[-1]
    assert last.state is TrialState.COMPLETE or last.user_attrs.get("timed_out") is True


def test_ipython_syntax_in_the_cell_is_transformed(ip):
    cell = "x = tune.uniform(0, 1)\nout = !echo hello\n(x, out[0])[0]\n"
    assert run(ip, "--strategy random --trials 2 --seed 0", cell).success
    assert ip.user_ns["out"][0] == "hello"


def test_config_storage_points_markers_outside_a_study_at_that_store(ip, tmp_path):
    ip.run_line_magic("config", "TuneMagics.storage = 'other.db'")
    assert hpmagic.tune.storage_path == str(tmp_path / "other.db")


def test_help_usage_line_names_the_cell_magic(ip, capsys):
    ip.run_cell("%%tune?\n")
    assert "%%tune [--strategy" in capsys.readouterr().out


def test_background_study_leaves_the_shell_usable_and_publishes_at_the_end(ip, capsys):
    import time

    cell = "import time\nx = tune.uniform(0, 1)\ntime.sleep(0.05)\nprint('trial log')\nresult = x\nx\n"
    assert run(ip, "--strategy random --trials 10 --seed 0 --background --name bg --out bg_study", cell).success
    study = ip.user_ns["bg_study"]
    assert study is hpmagic.tune.study
    assert ip.run_cell("print('notebook still usable')").success  # runs while the study goes on
    deadline = time.monotonic() + 30
    while study.running or len(study.trials) < 10:
        assert time.monotonic() < deadline, "the background study did not finish"
        time.sleep(0.05)
    magics = ip.magics_manager.registry["TuneMagics"]
    magics._background["bg"].join(30)
    assert not magics._background["bg"].is_alive(), "the background study's thread did not end"
    out = capsys.readouterr().out
    assert "runs in the background" in out
    assert "notebook still usable" in out
    assert "trial log" not in out
    assert study.last_finish.reason == "budget"
    assert ip.user_ns["result"] == study.best_trial.params["x"]


def test_background_study_stops_on_request(ip):
    import time

    cell = "import time\nx = tune.uniform(0, 1)\ntime.sleep(0.1)\nx\n"
    run(ip, "--strategy random --trials 200 --seed 0 --background --name bg-stop", cell)
    study = hpmagic.tune.study
    deadline = time.monotonic() + 30
    while len(study.trials) < 3:
        assert time.monotonic() < deadline, "the background study did not start 3 trials"
        time.sleep(0.02)
    study.stop()
    thread = ip.magics_manager.registry["TuneMagics"]._background["bg-stop"]
    thread.join(30)
    assert not thread.is_alive(), "the background study did not stop"
    assert study.last_finish.reason == "stopped"
    assert 3 <= len(study.trials) < 200
    assert all(t.state is TrialState.COMPLETE for t in study.trials)


def test_tune_list_and_tune_show_in_a_terminal(ip, capsys):
    run(ip, "--strategy random --trials 3 --seed 0 --name listed", QUADRATIC)
    capsys.readouterr()
    listing = ip.run_line_magic("tune_list", "")
    assert "listed" in repr(listing) and "3" in repr(listing)
    ip.run_line_magic("tune_show", "listed")
    out = capsys.readouterr().out
    assert "Study listed" in out and "3 complete of 3 trials" in out
    with pytest.raises(UsageError, match="no study named 'missing'"):
        ip.run_line_magic("tune_show", "missing")


def test_tune_show_without_a_name_shows_the_study_last_run_even_if_an_older_one_was_resumed(ip, capsys):
    run(ip, "--strategy random --trials 2 --seed 0 --name older", QUADRATIC)
    run(ip, "--strategy random --trials 2 --seed 0 --name newer", QUADRATIC)
    ip.run_line_magic("tune_show", "")
    assert "Study newer" in capsys.readouterr().out
    run(ip, "--strategy random --trials 5 --seed 0 --name older --resume", QUADRATIC)
    capsys.readouterr()
    ip.run_line_magic("tune_show", "")
    out = capsys.readouterr().out
    assert "Study older" in out and "5 complete of 5 trials" in out


def test_strategy_options_reach_the_strategy(ip):
    cell = "x = tune.uniform(0, 1)\nx\n"
    assert run(ip, "--strategy evolution --population 4 --options 'tournament=2' --trials 8 --seed 0", cell).success
    assert len(ip.user_ns["tune"].study.trials) == 8
    with pytest.raises(UsageError, match="has no option 'bogus'"):
        ip.run_cell_magic("tune", "--strategy random --options bogus=1", cell)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quotes=st.lists(st.sampled_from(["", "'", '"']), min_size=3, max_size=3), n=st.integers(1, 4))
def test_quoted_option_values_run_the_study_they_name(ip, quotes, n):
    """IPython keeps the quotes of a quoted value: ``--strategy 'random'`` is the random strategy, not an error."""
    s, t, d = quotes
    assert run(
        ip, f"--strategy {s}random{s} --trials {t}{n}{t} --timeout {d}1h{d} --storage :memory:", QUADRATIC
    ).success
    study = ip.user_ns["tune"].study
    assert study.strategy_name == "random"
    assert len(study.trials) == n


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["tune", *keyword.kwlist]))
def test_out_refuses_names_that_would_break_the_notebook(ip, name):
    """``--out tune`` would put the Study where the markers' object was (every later tune.* fails), and a keyword
    is no variable the notebook can read: both are one-line errors, and ``tune`` stays usable."""
    with pytest.raises(UsageError, match="--out") as info:
        ip.run_cell_magic("tune", f"--out {name} --strategy random --trials 1 --storage :memory:", QUADRATIC)
    assert len(str(info.value).splitlines()) == 1
    assert ip.user_ns["tune"] is hpmagic.tune
    assert run(ip, "--strategy random --trials 1 --storage :memory:", QUADRATIC).success


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(population=st.integers(2, 8))
def test_evolution_runs_with_any_valid_population_alone(ip, population):
    """``--population 4`` was refused with "tournament (5) must not exceed population (4)", an option the user never
    set: the default tournament is at most the population."""
    line = f"--strategy evolution --population {population} --trials {population + 3} --seed 0 --storage :memory:"
    assert run(ip, line, QUADRATIC).success
    assert len(ip.user_ns["tune"].study.trials) == population + 3
