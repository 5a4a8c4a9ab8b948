"""The multi-fidelity engine: budgets, tune.steps(), training-state snapshots and continued trials, median stopping."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.snapshots import SnapshotStore
from hpmagic.strategies import FIFOScheduler, TrialRequest
from tests.magic.conftest import run


class PromoteFirst(FIFOScheduler):
    """Trial 0 runs to step 2; trial 1 continues it to the full budget; later trials are new, at budget 2."""

    name = "promote-first"
    needs_budget = True

    def ask(self, number: int) -> TrialRequest:
        n = number
        params = self._sampler().ask(number)
        if n == 1:
            return TrialRequest(self.first, budget=self.resource[1], resume_from=0, attrs={"rung": 1})
        if n == 0:
            self.first = params
        return TrialRequest(params, budget=2, attrs={"rung": 0})


def test_steps_follow_the_granted_budget_and_continued_trials_resume_their_state(ip):
    ip.run_cell("log = []")
    cell = (
        "lr = tune.loguniform(1e-3, 1)\n"
        "model = {'epochs': [], 'lr': lr}\n"
        "for epoch in tune.steps():\n"
        "    model['epochs'].append(epoch)\n"
        "    tune.report(len(model['epochs']) * lr, step=epoch)\n"
        "log.append(list(model['epochs']))\n"
        "len(model['epochs'])\n"
    )
    magics = ip.magics_manager.registry["TuneMagics"]
    cmd = hpmagic.magic.parse_tune_line("--strategy random --trials 3 --seed 0 --budget 1..5 --state model")
    study, objective, _strategy, _n = magics._prepare(cmd, cell)
    study.optimize(objective, PromoteFirst(), n_trials=3, budget=cmd.budget)
    t0, t1, t2 = study.trials
    assert ip.user_ns["log"] == [[1, 2], [1, 2, 3, 4, 5], [1, 2]]  # trial 1 restored trial 0's model at step 2
    assert [s for s, _ in t1.intermediate] == [3, 4, 5]
    assert t1.params == t0.params and t1.value == 5
    assert t1.user_attrs["continues"] == 0 and t1.user_attrs["start"] == 2 and t1.user_attrs["resource"] == 5
    assert t0.user_attrs == {"rung": 0, "budget": 2, "resource": 2}
    assert t2.user_attrs["budget"] == 2 and "continues" not in t2.user_attrs


def test_without_state_a_continued_trial_retrains_from_scratch(ip):
    ip.run_cell("log = []")
    cell = (
        "lr = tune.loguniform(1e-3, 1)\nseen = []\n"
        "for epoch in tune.steps():\n    seen.append(epoch)\n    tune.report(lr, step=epoch)\n"
        "log.append(seen)\nlr\n"
    )
    magics = ip.magics_manager.registry["TuneMagics"]
    cmd = hpmagic.magic.parse_tune_line("--strategy random --trials 2 --seed 0 --budget 1..4")
    study, objective, _strategy, _n = magics._prepare(cmd, cell)
    study.optimize(objective, PromoteFirst(), n_trials=2, budget=cmd.budget)
    assert ip.user_ns["log"] == [[1, 2], [1, 2, 3, 4]]


def test_budget_and_state_options_from_the_magic(ip):
    cell = "x = tune.uniform(0, 1)\nfor step in tune.steps():\n    tune.report(x * step, step=step)\nx\n"
    assert run(ip, "--strategy random --trials 3 --seed 0 --budget 2..6", cell).success
    study = ip.user_ns["tune"].study
    assert study.resource == (2, 6)
    assert all([s for s, _ in t.intermediate] == [1, 2, 3, 4, 5, 6] for t in study.trials)
    with pytest.raises(UsageError, match="--budget takes MIN..MAX"):
        ip.run_cell_magic("tune", "--budget 5", cell)
    with pytest.raises(UsageError, match="--budget needs 1 <= MIN <= MAX"):
        ip.run_cell_magic("tune", "--budget 9..3", cell)
    with pytest.raises(UsageError, match="--state model: the cell never assigns model"):
        ip.run_cell_magic("tune", "--budget 1..3 --state model", cell)
    ip.run_cell_magic("tune", "--strategy random --trials 1 --max-failures 1", cell)
    assert "tune.steps() needs a resource range: add --budget" in ip.user_ns["tune"].study.trials[0].error


def test_steps_outside_a_study():
    assert list(tune.steps(3)) == [1, 2, 3]


def test_median_stopping_prunes_trials_below_the_median():
    def fn(p):
        for step in tune.steps():
            tune.report(p["x"] * step, step=step)
        return p["x"] * 10

    study = hpmagic.optimize(
        fn,
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=30,
        seed=0,
        budget=(1, 10),
        prune="median",
        direction="maximize",
    )
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    complete = [t for t in study.trials if t.state is TrialState.COMPLETE]
    assert pruned and complete
    assert all(t.intermediate[-1][0] < 10 for t in pruned)  # stopped early, with their last value kept
    assert all(t.value == t.intermediate[-1][1] for t in pruned)
    # Every pruned trial was worse than the median of the trials before it at the step where it stopped.
    assert sum(t.params["x"] for t in pruned) / len(pruned) < sum(t.params["x"] for t in complete) / len(complete)
    assert study.best_trial.state is TrialState.COMPLETE


def test_hyperband_like_strategies_refuse_to_run_without_a_budget():
    class NeedsBudget(FIFOScheduler):
        name = "needs-budget"
        needs_budget = True

    with pytest.raises(hpmagic.OptionError, match="needs a resource range"):
        hpmagic.optimize(lambda p: 1.0, {"x": tune.uniform(0, 1)}, strategy=NeedsBudget(), n_trials=2)


def test_snapshot_store_keeps_the_latest_state_and_spills_to_disk(tmp_path):
    store = SnapshotStore(memory_limit=2_000, spill_dir=str(tmp_path))
    big = list(range(300))
    store.save(1, 1, {"w": big})
    big.append(-1)  # pickled at save time: later changes do not leak in
    store.save(1, 2, {"w": big})
    store.save(2, 5, {"w": list(range(300))})
    store.save(3, 7, {"w": [0] * 400})
    assert store.spilled >= 1 and list(tmp_path.glob("trial-*.pkl"))
    step, state = store.load(1)
    assert step == 2 and state["w"][-1] == -1
    assert store.load(1)[1]["w"] is not state["w"]  # a fresh copy on every load
    assert store.load(2)[0] == 5 and store.load(3)[0] == 7
    assert store.load(99) is None
    assert 1 in store and len(store) == 3


def test_snapshots_of_configurations_hyperband_eliminated_are_released() -> None:
    """Only snapshots that a promotion may still continue are kept: at the end of a whole schedule, none."""
    kept_during: list[int] = []

    def fn(params: dict[str, Any]) -> float:
        for step in tune.steps():
            tune.report(params["x"] + 1 / step, step, state={"w": bytes(1000)})
        return params["x"]

    def watch(event: Any) -> None:
        from hpmagic.events import TrialFinished

        if isinstance(event, TrialFinished):
            kept_during.append(len(event.study.snapshots))

    study = hpmagic.optimize(
        fn, {"x": tune.uniform(0, 1)}, strategy="hyperband", budget=(1, 9), n_trials=None, seed=0, reporters=[watch]
    )
    assert len(study.trials) == 22
    assert max(kept_during) <= 9 + 1  # at most a rung's configurations (plus the one just finished)
    assert len(study.snapshots) == 0  # the schedule is over: nothing will be continued


def test_a_magic_run_leaves_no_snapshots_behind(ip) -> None:
    """Each %%tune cell makes a new Study (a --resume too): its snapshots go when the cell ends."""
    cell = (
        "x = tune.uniform(0, 1)\n"
        "state = {'steps': 0}\n"
        "for step in tune.steps():\n"
        "    state['steps'] += 1\n"
        "    tune.report(x + 1 / step, step)\n"
        "x\n"
    )
    assert run(ip, "--strategy asha --budget 1..9 --trials 8 --state state --seed 0 --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 8
    assert len(study.snapshots) == 0


bad_steps = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda v: not (math.isfinite(v) and v.is_integer() and v >= 0)
    ),
    st.integers(max_value=-1),
    st.booleans(),
    st.text(max_size=4),
)
good_steps = st.one_of(st.integers(0, 10**6), st.integers(0, 10**6).map(float), st.integers(0, 10**6).map(np.int64))


@settings(max_examples=40, deadline=None)
@given(bad=bad_steps, good=good_steps)
def test_a_report_step_that_is_not_a_whole_count_fails_its_trial_with_a_clear_message(bad, good):
    """``tune.report(loss, step=2.5)`` was recorded as step 2 (and ``step="2"`` as 2, ``True`` as 1, ``-1`` as a
    step before the first): now such a step fails that trial saying what a step is; a whole step is kept exactly."""

    def fn(p):
        tune.report(0.5, step=bad if p["i"] == 0 else good)
        return 1.0

    study = hpmagic.optimize(fn, {"i": tune.choice([0, 1])}, strategy="grid", n_trials=None, max_failures=None)
    first, second = study.trials
    assert first.state is TrialState.FAILED and "step= counts epochs or iterations" in (first.error or "")
    assert second.state is TrialState.COMPLETE and second.intermediate == [(int(good), 0.5)]
