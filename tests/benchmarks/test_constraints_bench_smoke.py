"""benchmarks/constraints.py end to end on a tiny budget: its problems, one run each, the report's table."""

from __future__ import annotations

import math

from benchmarks import constraints as bench


def test_each_problem_runs_and_the_report_has_a_row_per_problem_and_strategy() -> None:
    results = {}
    for problem in bench.PROBLEMS:
        r = bench.run_one(problem, "random", 0, 12)
        assert 0.0 <= r["infeasible"] <= 1.0 and 0.0 <= r["infeasible_late"] <= 1.0
        assert r["best"] is None or math.isfinite(r["best"])
        results[(problem, "random")] = [r]
    table = bench.report(results, seeds=1, trials=12).splitlines()
    assert table[0].startswith("| problem | strategy | infeasible, all 12 trials | infeasible, trials 11-12 |")
    assert len(table) == 2 + len(bench.PROBLEMS)


def test_the_disk_constraint_matches_its_geometry() -> None:
    space, fn, [constraint] = bench.PROBLEMS["branin-disk"]()
    assert set(space) == {"x1", "x2"}
    assert abs(fn({"x1": math.pi, "x2": 2.275}) - 0.397887) < 1e-5  # Branin's minimum, inside the disk
    from hpmagic.constraints import parse_constraints

    [c] = parse_constraints([constraint])
    assert c.margin({"x1": 2.5, "x2": 7.5}) == -50.0 and c.margin({"x1": 10.0, "x2": 15.0}) == 62.5
