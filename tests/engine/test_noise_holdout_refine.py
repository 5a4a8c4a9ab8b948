"""--repeats (noisy objectives), --test (a held-out metric the strategy never sees) and --refine (coarse to fine)."""

from __future__ import annotations

import statistics

import pytest
from IPython.core.error import UsageError

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.refine import refine_space
from hpmagic.results import overfitting_note, results_text
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.strategies import RandomSampler
from tests.magic.conftest import run


def test_repeats_run_each_configuration_with_seeds_and_keep_mean_and_spread():
    seen = []

    def fn(p):
        seen.append((p["x"], tune.seed))
        return p["x"] + tune.seed  # noise that depends on the seed

    study = hpmagic.optimize(fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=4, seed=0, repeats=3)
    assert len(study.trials) == 4 and len(seen) == 12
    for trial in study.trials:
        values = trial.user_attrs["values"]
        assert values == [trial.params["x"] + s for s in range(3)]
        assert trial.value == pytest.approx(statistics.mean(values))
        assert trial.user_attrs["value_std"] == pytest.approx(statistics.stdev(values))
    assert [s for _, s in seen[:3]] == [0, 1, 2]


def test_repeats_in_a_cell_use_the_same_parameters(ip):
    ip.run_cell("calls = []")
    cell = "x = tune.uniform(0, 1)\ncalls.append((x, tune.seed))\nx * (1 + tune.seed)\n"
    assert run(ip, "--strategy random --trials 3 --seed 0 --repeats 2", cell).success
    calls = ip.user_ns["calls"]
    assert len(calls) == 6 and all(calls[i][0] == calls[i + 1][0] for i in range(0, 6, 2))
    with pytest.raises(UsageError, match="--repeats takes an integer >= 1"):
        ip.run_cell_magic("tune", "--repeats 0", cell)


def test_a_failing_repeat_fails_the_trial():
    def fn(p):
        if tune.seed == 1:
            return float("nan")
        return p["x"]

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=2, seed=0, repeats=2, max_failures=None
    )
    assert all(t.state is TrialState.FAILED and "repeat 1" in t.error for t in study.trials)


class Recorder(RandomSampler):
    """Records everything the strategy is told, to show the held-out value never reaches it."""

    def setup(self, space, **kw):
        super().setup(space, **kw)
        self.told = []

    def tell(self, trial):
        self.told.append((trial.value, dict(trial.user_attrs)))


def test_held_out_metric_is_stored_but_never_told_to_the_strategy(ip):
    ip.run_cell("import numpy as np")
    cell = "x = tune.uniform(0, 1)\nval = 1 - (x - 0.3) ** 2\ntest = 1 - (x - 0.7) ** 2\nval\n"
    magics = ip.magics_manager.registry["TuneMagics"]
    cmd = hpmagic.magic.parse_tune_line("--strategy random --trials 6 --seed 0 --maximize --test test")
    study, objective, _s, _n = magics._prepare(cmd, cell)
    strategy = Recorder()
    study.optimize(objective, strategy, n_trials=6)
    for trial in study.trials:
        assert trial.user_attrs["test"] == pytest.approx(1 - (trial.params["x"] - 0.7) ** 2)
    # The strategy is told the validation values, and never the held-out one.
    assert [v for v, _ in strategy.told] == [t.value for t in study.trials]
    assert all("test" not in attrs for _, attrs in strategy.told)
    assert "test" in study.rows()[0]


def test_live_display_hides_the_held_out_value_until_the_end(ip):
    from hpmagic.display.view_model import DashboardModel, rows_html

    cell = "x = tune.uniform(0, 1)\nx\n"
    assert run(ip, "--strategy random --trials 4 --seed 0 --maximize --test '1 - x' --name gap", cell).success
    study = ip.user_ns["tune"].study
    model = DashboardModel()
    model.load(study)
    live = rows_html(model.rows(), model.params())
    best_test = study.best_trial.user_attrs["test"]
    assert f"{best_test:.6g}" not in live
    note, warn = overfitting_note(study)
    assert f"held-out test {best_test:.6g}" in note
    assert "held-out test" in results_text(study)


def test_overfitting_warning_when_the_gap_exceeds_the_spread():
    def fn(p):
        tune.holdout(0.5)  # the held-out score never moves: validation gains are luck
        return 0.9 + p["x"] * 0.001

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=10, seed=0, direction="maximize"
    )
    text, warn = overfitting_note(study)
    assert warn and "overfitted the validation set" in text
    study2 = hpmagic.optimize(
        lambda p: (tune.holdout(p["x"]), p["x"])[1],
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=10,
        seed=0,
        direction="maximize",
    )
    assert overfitting_note(study2)[1] is False


def test_refine_space_narrows_around_the_best_trials():
    space = Space(
        {"x": Float(-10, 10), "lr": Float(1e-5, 1, log=True), "n": Int(1, 100), "k": Categorical(("a", "b", "c"))}
    )
    study = hpmagic.optimize(
        lambda p: (p["x"] - 3) ** 2 + abs(p["n"] - 50) + (p["k"] != "b"), space, strategy="random", n_trials=60, seed=0
    )
    narrow = refine_space(study.space, study.trials, study.direction)
    assert -10 < narrow["x"].low < 3 < narrow["x"].high < 10
    assert narrow["x"].high - narrow["x"].low < 12
    assert narrow["lr"].log and narrow["lr"].low >= 1e-5
    assert 1 <= narrow["n"].low < 50 < narrow["n"].high <= 100
    assert "b" in narrow["k"].choices


def test_refine_continues_the_study_in_the_narrowed_space(tmp_path):
    path = str(tmp_path / "r.db")
    fn = lambda p: (p["x"] - 3) ** 2  # noqa: E731
    space = {"x": tune.uniform(-10, 10)}
    coarse = hpmagic.optimize(fn, space, strategy="random", n_trials=20, seed=0, storage=path, name="c2f")
    first = [t.params["x"] for t in coarse.trials]
    fine = hpmagic.optimize(fn, space, strategy="random", n_trials=40, seed=0, storage=path, name="c2f", refine=True)
    assert fine.name == "c2f" and len(fine.trials) == 40
    assert [t.params["x"] for t in fine.trials[:20]] == first
    narrowed = refine_space(coarse.space, coarse.trials, coarse.direction)
    assert all(narrowed["x"].low <= t.params["x"] <= narrowed["x"].high for t in fine.trials[20:])
    assert fine.best_value <= coarse.best_value


def test_refine_from_the_magic(ip):
    cell = "x = tune.uniform(-10, 10)\n(x - 3) ** 2\n"
    assert run(ip, "--strategy random --trials 10 --seed 0 --name zoom", cell).success
    assert run(ip, "--strategy bayes --trials 20 --seed 0 --name zoom --refine", cell).success
    study = ip.user_ns["tune"].study
    assert study.name == "zoom" and len(study.trials) == 20
    xs = [t.params["x"] for t in study.trials[10:]]
    assert max(xs) - min(xs) < 20
    with pytest.raises(UsageError, match="--refine needs a study with at least 2 complete trials"):
        ip.run_cell_magic("tune", "--strategy random --trials 3 --name fresh --refine", cell)
