"""bench-mo's problems and runner on a tiny budget, with hpmagic's own strategies (Optuna lives in .venv-bench)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import mo_hypervolume as bench
from benchmarks import mo_problems


@pytest.mark.parametrize("name", ["zdt1", "zdt2"])
def test_zdt_fronts_have_the_stated_hypervolume(name: str) -> None:
    problem = mo_problems.get(name)
    x1 = np.linspace(0.0, 1.0, 2001)
    # on the front (x2..x6 = 0, so g = 1), f2 = 1 - sqrt(f1) (ZDT1) or 1 - f1^2 (ZDT2)
    points = np.array([list(problem({"x1": x, **{f"x{i}": 0.0 for i in range(2, 7)}}).values()) for x in x1])
    assert np.allclose(points[:, 1], 1 - (np.sqrt(x1) if name == "zdt1" else x1**2))
    hv = bench.hypervolume_at(points, len(points), problem.reference)
    assert problem.best_hypervolume is not None
    assert hv == pytest.approx(problem.best_hypervolume, abs=2e-3) and hv <= problem.best_hypervolume


def test_dtlz2_front_is_the_unit_sphere_and_bounds_the_hypervolume() -> None:
    problem = mo_problems.get("dtlz2")
    grid = np.linspace(0.0, 1.0, 12)
    points = np.array(
        [list(problem({"x1": a, "x2": b, **{f"x{i}": 0.5 for i in range(3, 7)}}).values()) for a in grid for b in grid]
    )
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0)
    hv = bench.hypervolume_at(points, len(points), problem.reference)
    assert problem.best_hypervolume == pytest.approx(1.1**3 - math.pi / 6)
    assert 0.9 * problem.best_hypervolume < hv < problem.best_hypervolume


def test_tree_problem_is_deterministic_and_trades_error_for_size() -> None:
    problem = mo_problems.get("tree-digits")
    small = {"max_depth": 2, "min_samples_leaf": 1, "ccp_alpha": 1e-5, "criterion": "gini"}
    big = {**small, "max_depth": 20}
    assert problem(small) == problem(small)
    assert problem(small)["nodes"] < problem(big)["nodes"] and problem(small)["error"] > problem(big)["error"]
    assert all(v < r for v, r in zip(problem(big).values(), problem.reference, strict=True))


def test_hypervolume_at_reads_a_prefix_of_the_run() -> None:
    points = [[0.5, 0.5], [0.2, 0.9], [0.1, 0.1]]
    assert bench.hypervolume_at(points, 1, (1.0, 1.0)) == pytest.approx(0.25)
    assert bench.hypervolume_at(points, 3, (1.0, 1.0)) == pytest.approx(0.81)
    assert bench.hypervolume_at([], 3, (1.0, 1.0)) == 0.0
