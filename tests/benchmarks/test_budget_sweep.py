"""The benchmark's budget sweep, its higher-dimensional and conditional problems, and how it reports failures.

Runs with hpmagic's own strategies only (the peers live in .venv-bench), at tiny budgets.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import run as bench
from benchmarks.optimizers import RunResult
from benchmarks.problems import PROBLEMS, Problem
from hpmagic.space import Float, Int


def _report(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "R.md"
    code = bench.main([*args, "--seeds", "1", "--out", str(out), "--cache-dir", str(tmp_path), "--pool-size", "60"])
    assert code == 0
    return out.read_text()


def test_sweep_reports_every_budget_with_a_plot(tmp_path: Path) -> None:
    text = _report(
        tmp_path, "--problems", "branin", "--optimizers", "hpmagic-random", "hpmagic-bayes", "--budgets", "8", "5"
    )
    assert "| optimizer | budget 5 | budget 8 |" in text
    assert "## Budget 5" in text and "## Budget 8" in text
    assert "hpmagic-bayes / best peer" in text
    assert (tmp_path / "budget-sweep-custom.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "results-custom.json").read_text())
    assert sorted({r["n_trials"] for r in saved["results"]}) == [5, 8]
    assert len(saved["results"]) == 2 * 2  # 2 budgets x 2 optimizers x 1 seed


def test_a_problem_that_fails_to_evaluate_is_reported_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(params: dict) -> float:
        raise ValueError("the dataset is missing")

    problem = Problem("broken", {"x": Float(0, 1)}, broken, None, False, "synthetic", "always fails")
    monkeypatch.setitem(PROBLEMS, "broken", problem)
    text = _report(
        tmp_path, "--problems", "branin", "broken", "--optimizers", "hpmagic-random", "numpy-random", "--budget", "5"
    )
    error = "the problem failed to evaluate: ValueError: the dataset is missing"
    assert f"**broken**: always fails. **Error**: {error}" in text
    assert text.count("**incomplete**: no regret on broken") == 2  # both optimizers' means


def test_an_optimizer_that_errors_shows_the_error_and_an_incomplete_mean() -> None:
    ok = RunResult("numpy-random", "branin", 0, 5, evaluations=[(1.0, 0.0)] * 5)
    failed = RunResult("hpmagic-random", "branin", 0, 5, evaluations=[(2.0, 0.0)], error="RuntimeError: boom")
    pools = {"branin": bench.random_pool(PROBLEMS["branin"], 50, cache_dir=None)}
    summaries = bench.summarise([ok, failed], pools, 5, ["numpy-random", "hpmagic-random"])
    means = {d["optimizer"]: d for d in bench.overall(summaries, ["numpy-random", "hpmagic-random"])}
    assert means["hpmagic-random"]["missing"] == ["branin"] and means["hpmagic-random"]["errors"] == 1
    assert means["numpy-random"]["missing"] == [] and math.isfinite(means["numpy-random"]["regret"])
    env = {"versions": {}, "nproc": 2, "cpu": "x", "platform": "y", "omp": "1", "load": "0"}
    text = bench.render(
        summaries,
        ["numpy-random", "hpmagic-random"],
        {},
        title="t",
        command="c",
        seeds=1,
        elapsed=1.0,
        env=env,
        date="d",
    )
    assert "hpmagic-random (1 failed runs) (**incomplete**: no regret on branin)" in text
    assert "(1 failed: seed 0: RuntimeError: boom)" in text


def test_a_run_stopped_midway_keeps_and_reports_what_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours of runs are not lost to a Ctrl-C: the finished ones are saved, and --from-json reports them with the
    missing ones marked (the stop is simulated on the third run)."""
    real, calls = bench.run_optimizer, []

    def stops_on_the_third(*args: object, **kwargs: object) -> RunResult:
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "run_optimizer", stops_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        _report(
            tmp_path, "--problems", "branin", "--optimizers", "hpmagic-random", "numpy-random", "--budgets", "5", "8"
        )
    saved = json.loads((tmp_path / "results-custom.json").read_text())
    assert [(r["optimizer"], r["n_trials"]) for r in saved["results"]] == [("hpmagic-random", 8), ("numpy-random", 8)]
    assert saved["command"].endswith("(stopped after 2 of 4 runs)")
    monkeypatch.setattr(bench, "run_optimizer", real)
    out = tmp_path / "from-json.md"
    code = bench.main(
        [
            "--from-json",
            str(tmp_path / "results-custom.json"),
            "--out",
            str(out),
            "--pool-size",
            "60",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    text = out.read_text()
    assert "(stopped after 2 of 4 runs)" in text
    assert "## Budget 8" in text and "(incomplete)" in text  # budget 5 never ran


def test_merged_runs_count_each_optimizer_once() -> None:
    def part(optimizers: list[str], command: str) -> dict:
        results = [RunResult(o, "branin", 0, 5, evaluations=[(1.0, 0.0)]).to_dict() for o in optimizers]
        env = {"versions": {"hpmagic": command}, "load": "0", "load_end": "0"}
        return {
            "problems": ["branin"],
            "optimizers": optimizers,
            "seeds": 1,
            "budget": 5,
            "budgets": [5],
            "skipped": {},
            "results": results,
            "command": command,
            "elapsed": 1.0,
            "env": env,
            "date": "d",
            "jobs": 1,
        }

    parts = [part(["optuna-tpe", "numpy-random"], "a"), part(["hpmagic-bayes", "numpy-random"], "b")]
    merged = bench.merge_saved(parts)
    assert merged["optimizers"] == ["optuna-tpe", "numpy-random", "hpmagic-bayes"]
    assert sorted(r["optimizer"] for r in merged["results"]) == ["hpmagic-bayes", "numpy-random", "optuna-tpe"]
    assert len(merged["env"]["parts"]) == 2


def test_a_budget_run_on_fewer_problems_is_marked_incomplete() -> None:
    pools = {p: bench.random_pool(PROBLEMS[p], 50, cache_dir=None) for p in ("branin", "mixed")}
    runs = [RunResult("numpy-random", p, 0, b, evaluations=[(1.0, 0.0)] * b) for p in ("branin", "mixed") for b in (5,)]
    runs.append(RunResult("numpy-random", "branin", 0, 8, evaluations=[(1.0, 0.0)] * 8))  # mixed not run at 8
    by_budget = {b: bench.summarise(runs, pools, b, ["numpy-random"]) for b in (5, 8)}
    text = "\n".join(bench.render_sweep(by_budget, ["numpy-random"], None))
    row = next(line for line in text.splitlines() if line.startswith("| numpy-random"))
    assert row.split("|")[2].strip().replace(".", "").isdigit()  # budget 5: complete
    assert row.split("|")[3].strip().endswith("(incomplete)")  # budget 8: mixed is missing


def test_the_suite_has_high_dimensional_and_conditional_problems() -> None:
    dims = {name: len(p.space) for name, p in PROBLEMS.items()}
    assert 10 <= dims["levy12"] <= 20 and PROBLEMS["levy12"].kind == "synthetic"
    assert 10 <= dims["mlp"] <= 20 and PROBLEMS["mlp"].kind == "sklearn"
    assert PROBLEMS["levy12"]({f"x{i}": 1.0 for i in range(12)}) == pytest.approx(0.0, abs=1e-12)
    space = PROBLEMS["conditional"].space
    assert isinstance(space["knn_k"], Int)
    base = {"model": "knn", "svc_C": 1.0, "svc_gamma": 0.01, "logistic_C": 1.0, "knn_k": 7, "tree_depth": 3}
    value = PROBLEMS["conditional"](base)
    # Parameters of the models not chosen change nothing; the chosen model's do.
    assert PROBLEMS["conditional"](base | {"svc_C": 500.0, "tree_depth": 15}) == value
    assert PROBLEMS["conditional"](base | {"knn_k": 1}) != value
