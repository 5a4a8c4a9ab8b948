"""Constraints: how many infeasible trials random search, bayes and evolution run, and the best feasible value.

``python -m benchmarks.constraints [--seeds 5] [--trials 40] [--no-write]`` (``make bench-constraints``) runs each
strategy on each problem with ``hpmagic.optimize(..., constraints=[...])`` and reports, over the seeds, the mean
fraction of infeasible trials (all trials, and the trials after the first 10, once bayes's model and evolution's
tournaments are at work) and the median best feasible value (with how many runs found a feasible trial at all).

Problems:

* ``branin-disk``: Branin on [-5, 10] x [0, 15], feasible inside the disk ``(x1 - 2.5)^2 + (x2 - 7.5)^2 <= 50``
  (Gardner et al., 2014's toy problem: about 70% of the box is feasible; two of Branin's three minima lie outside,
  the feasible optimum is 0.3979 at (pi, 2.275)).
* ``branin-band``: the same function, feasible in the band ``abs(x2 - 2.5 * x1 - 2) <= 3`` (16% of the box), which
  holds none of Branin's minima: the feasible optimum, about 6.189, lies on the band's edge.
* ``digits-tree``: a decision tree on scikit-learn's digits (validation error to minimise), constrained to at most
  60 nodes (a callable constraint, ``node_count - 60``): deep trees with few samples per leaf score best but are
  too large.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECTION = "bench:constraints"
STRATEGIES = ("random", "bayes", "evolution")
WARMUP = 10  # trials counted apart: the first ones of every strategy are drawn at random or from a design


def _branin(x1: float, x2: float) -> float:
    b, c, r, s, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def _branin_problem(constraint: str) -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any], list[Any]]:
    from hpmagic import tune

    space = {"x1": tune.uniform(-5, 10), "x2": tune.uniform(0, 15)}
    return space, lambda p: _branin(p["x1"], p["x2"]), [constraint]


def _digits_tree() -> tuple[dict[str, Any], Callable[[dict[str, Any]], Any], list[Any]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    from hpmagic import tune

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0)
    nodes: dict[tuple[Any, ...], int] = {}  # each configuration's tree size, for the constraint

    def fit(p: dict[str, Any]) -> float:
        tree = DecisionTreeClassifier(
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            random_state=0,
        ).fit(x_train, y_train)
        nodes[_key(p)] = tree.tree_.node_count
        return 1.0 - float(tree.score(x_val, y_val))

    def at_most_60_nodes(ns: dict[str, Any]) -> float:
        return nodes[_key(ns)] - 60.0

    space = {
        "max_depth": tune.int(2, 30),
        "min_samples_leaf": tune.int(1, 40, log=True),
        "max_features": tune.uniform(0.1, 1.0),
    }
    return space, fit, [at_most_60_nodes]


def _key(p: dict[str, Any]) -> tuple[Any, ...]:
    return (p["max_depth"], p["min_samples_leaf"], p["max_features"])


PROBLEMS: dict[str, Callable[[], tuple[dict[str, Any], Callable[[dict[str, Any]], Any], list[Any]]]] = {
    "branin-disk": lambda: _branin_problem("(x1 - 2.5) ** 2 + (x2 - 7.5) ** 2 <= 50"),
    "branin-band": lambda: _branin_problem("abs(x2 - 2.5 * x1 - 2) <= 3"),
    "digits-tree": _digits_tree,
}


def run_one(problem: str, strategy: str, seed: int, trials: int) -> dict[str, Any]:
    """One study; returns the infeasible fractions and the best feasible value (None if no trial was feasible)."""
    import hpmagic

    space, fn, constraints = PROBLEMS[problem]()
    began = time.perf_counter()
    study = hpmagic.optimize(fn, space, strategy=strategy, n_trials=trials, seed=seed, constraints=constraints)
    seconds = time.perf_counter() - began
    done = [t for t in study.trials if t.violations is not None]
    late = done[WARMUP:]
    best = study.best_trial
    return {
        "infeasible": sum(not t.feasible for t in done) / len(done),
        "infeasible_late": sum(not t.feasible for t in late) / len(late) if late else float("nan"),
        "best": None if best is None else best.value,
        "seconds": seconds,
    }


def report(results: dict[tuple[str, str], list[dict[str, Any]]], seeds: int, trials: int) -> str:
    lines = [
        f"| problem | strategy | infeasible, all {trials} trials | infeasible, trials {WARMUP + 1}-{trials} | "
        "best feasible value (median) | runs with a feasible trial | s per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for (problem, strategy), runs in results.items():
        bests = [r["best"] for r in runs if r["best"] is not None]
        median = f"{statistics.median(bests):.4g}" if bests else "-"
        lines.append(
            f"| {problem} | {strategy} | {statistics.mean(r['infeasible'] for r in runs):.0%} | "
            f"{statistics.mean(r['infeasible_late'] for r in runs):.0%} | {median} | {len(bests)}/{seeds} | "
            f"{statistics.mean(r['seconds'] for r in runs):.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from benchmarks.run import _git_commit, _load, environment, write_section

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--no-write", action="store_true", help="print only: leave RESULTS.md alone")
    args = parser.parse_args(argv)
    env = environment()
    began = time.perf_counter()
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for problem in args.problems.split(","):
        for strategy in STRATEGIES:
            for seed in range(args.seeds):
                r = run_one(problem, strategy, seed, args.trials)
                print(f"{problem:>12} {strategy:<10} seed {seed}: {r}", flush=True)
                results.setdefault((problem, strategy), []).append(r)
    elapsed = time.perf_counter() - began
    venv = Path(sys.executable).parent.parent.name
    command = f"{venv}/bin/python -m benchmarks.constraints {' '.join(argv if argv is not None else sys.argv[1:])}"
    header = (
        "## Constraints: infeasible trials and the best feasible value (`make bench-constraints`)\n\n"
        f"- command: `{command.rstrip()}`\n"
        f"- commit {_git_commit()}; {time.strftime('%Y-%m-%d', time.gmtime())}; {elapsed:.0f} s in one process\n"
        f"- machine: {env['nproc']} CPUs ({env['cpu']}), {env['platform']}, OMP_NUM_THREADS={env['omp']}\n"
        f"- load average (1/5/15 min) at the start: {env['load']}, at the end: {_load()}\n"
        f"- {args.seeds} seeds x {args.trials} trials per strategy and problem; problems and how it is measured: "
        "`benchmarks/constraints.py`'s docstring.\n"
    )
    text = header + "\n" + report(results, args.seeds, args.trials)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
