"""Constraints on Dask workers: evaluated where the trial ran, from the magic (--jobs) and the API (client=)."""

from __future__ import annotations

from typing import Any

import pytest

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.execution import close_local_clusters
from tests.magic.conftest import run

CELL = "w = tune.uniform(0, 4)\nsize = 10 * w\nloss = (w - 3) ** 2\nloss\n"


def test_jobs_evaluates_constraints_on_workers_and_publishes_the_best_feasible_trial(ip: Any) -> None:
    ip.user_ns["limit"] = 20  # read only by the constraint: it must travel to the workers all the same
    try:
        line = "--strategy random --trials 10 --seed 0 --jobs 2 --name par-c --storage :memory: "
        line += "--constraint 'size <= limit'"
        assert run(ip, line, CELL).success
        study = ip.user_ns["tune"].study
        assert len({t.user_attrs["worker"] for t in study.trials}) == 2
        for t in study.trials:
            assert t.violations == [pytest.approx(max(0.0, 10 * t.params["w"] - 20))]
        best = study.best_trial
        assert best.feasible and best is min((t for t in study.trials if t.feasible), key=lambda t: t.value)
        assert min(t.value for t in study.trials) < best.value  # a better, infeasible trial ran on a worker
        assert ip.user_ns["w"] == best.params["w"] and ip.user_ns["size"] <= 20  # its variables came back
    finally:
        close_local_clusters()


def test_a_callable_constraint_travels_to_the_workers(client: Any) -> None:
    limit = 1.5  # read by the callable: pickled with it

    def small_x(ns: dict[str, Any]) -> float:
        return ns["x"] - limit

    study = hpmagic.optimize(
        lambda p: -p["x"],
        {"x": tune.uniform(0, 3)},
        strategy="random",
        n_trials=8,
        seed=1,
        client=client,
        constraints=[small_x, "value <= 0"],
    )
    assert {t.user_attrs["worker"] for t in study.trials} != {None}
    for t in study.trials:
        assert t.state is TrialState.COMPLETE
        assert t.violations == [pytest.approx(max(0.0, t.params["x"] - 1.5)), 0.0]
    assert study.best_trial.params["x"] <= 1.5


def test_an_undefined_name_on_workers_stops_the_study_after_the_first_trial(client: Any) -> None:
    study = hpmagic.optimize(
        lambda p: p["x"],
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=12,
        seed=0,
        client=client,
        constraints=["latency <= 1"],
    )
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert failed and all("names 'latency', which the trial does not define" in t.error for t in failed)
    assert len(study.trials) < 12
    assert study.last_finish.message.startswith("stopped after trial")
