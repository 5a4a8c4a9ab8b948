"""The results of a multi-objective study: one column per objective, ranked by front then crowding, front marked."""

from __future__ import annotations

import numpy as np
import pytest

import hpmagic
from hpmagic import TrialState, tune
from hpmagic.pareto import crowding_distance, nondominated_ranks

SPACE = {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}


def scores(p):
    return {"accuracy": 1 - (p["x"] - 0.6) ** 2 - 0.3 * p["y"], "latency": 5 * p["x"] + p["y"]}


def make(n=30, **kwargs):
    return hpmagic.optimize(
        scores,
        SPACE,
        strategy="random",
        n_trials=n,
        seed=3,
        directions={"accuracy": "maximize", "latency": "minimize"},
        **kwargs,
    )


def losses(trials):
    return np.array([[-t.values[0], t.values[1]] for t in trials])


def test_rows_have_a_column_per_objective_and_the_front():
    study = make()
    rows = study.rows()
    assert list(rows[0])[:7] == ["number", "state", "value", "accuracy", "latency", "pareto_rank", "pareto_front"]
    expected = nondominated_ranks(losses(study.trials))
    for row, t, rank in zip(rows, study.trials, expected, strict=True):
        assert (row["accuracy"], row["latency"]) == tuple(t.values)
        assert row["pareto_rank"] == rank and row["pareto_front"] == (rank == 0)
    assert {r["number"] for r in rows if r["pareto_front"]} == {t.number for t in study.best_trials}
    frame = study.to_dataframe()
    assert frame["pareto_front"].sum() == len(study.best_trials)


def test_sorted_trials_go_by_front_then_crowding():
    study = make()
    ordered = study.sorted_trials()
    ranks = study.pareto_ranks()
    assert [ranks[t.number] for t in ordered] == sorted(ranks[t.number] for t in ordered)
    for front in set(ranks.values()):
        members = [t for t in ordered if ranks[t.number] == front]
        distance = crowding_distance(losses(members))
        assert list(distance) == sorted(distance, reverse=True)


def test_the_tables_name_each_objective_and_mark_the_front():
    study = make(12)
    text = study.summary()
    header = text.splitlines()[2].split()
    assert header[-7:] == ["↑", "latency", "↓", "front", "duration", "state", "note"] and "accuracy" in header
    at = text.splitlines()[2].index("front")
    fronts = [line[at : at + 5].strip() for line in text.splitlines()[3:15]]
    ranks = study.pareto_ranks()
    assert fronts == [str(ranks[t.number] + 1) for t in study.sorted_trials()]
    assert fronts[0] == "1"
    html = study._repr_html_()
    assert "<th>accuracy ↑</th><th>latency ↓</th><th>front</th>" in html


def test_failed_trials_come_last_and_have_no_values():
    def sometimes(p):
        if p["x"] > 0.7:
            raise RuntimeError("diverged")
        return scores(p)

    study = hpmagic.optimize(
        sometimes, SPACE, strategy="random", n_trials=15, seed=4, directions={"accuracy": "max", "latency": "min"}
    )
    ordered = study.sorted_trials()
    states = [t.state for t in ordered]
    assert TrialState.FAILED in states
    assert states == sorted(states, key=lambda s: s is TrialState.FAILED)
    failed_row = next(r for r in study.rows() if r["state"] == "failed")
    assert failed_row["accuracy"] is None and failed_row["pareto_rank"] is None and not failed_row["pareto_front"]


def test_constraints_rank_infeasible_trials_after_every_feasible_one():
    study = make(30, constraints=["latency <= 3"])
    ranks = study.pareto_ranks()
    feasible = [t for t in study.trials if t.feasible]
    infeasible = [t for t in study.trials if not t.feasible]
    assert feasible and infeasible
    assert max(ranks[t.number] for t in feasible) < min(ranks[t.number] for t in infeasible)
    front = study.best_trials
    assert front and all(t.feasible for t in front)
    expected = nondominated_ranks(losses(feasible))
    assert {t.number for t, r in zip(feasible, expected, strict=True) if r == 0} == {t.number for t in front}


def test_no_feasible_trial_gives_the_least_violating():
    study = make(10, constraints=["latency <= -1"])
    least = min(t.violations[0] for t in study.trials)
    assert [t.violations[0] for t in study.best_trials] == [pytest.approx(least)]


def test_an_objective_named_like_a_column_is_prefixed():
    study = hpmagic.optimize(
        lambda p: {"value": p["x"], "duration": 1 - p["x"]},
        SPACE,
        strategy="random",
        n_trials=3,
        seed=0,
        directions={"value": "min", "duration": "min"},
    )
    row = study.rows()[0]
    assert row["objective_value"] == study.trials[0].values[0]
    assert row["objective_duration"] == study.trials[0].values[1]


def test_value_plots_name_the_primary_objective():
    import matplotlib

    matplotlib.use("Agg")
    from hpmagic.plot import convergence, param_scatter

    study = make(8, primary="latency")
    ax = convergence(study)
    assert ax.get_ylabel() == "latency (primary objective)"
    assert list(ax.collections[0].get_offsets()[:, 1]) == [t.values[1] for t in study.trials]
    assert param_scatter(study, "x").get_ylabel() == "latency (primary objective)"
