"""Noise and coarse-to-fine, each shown on one problem (run with ``make bench-noise``).

1. **Noise**: noisy Hartmann6 (additive Gaussian noise, sd 0.5 and 1.0 on a function whose range is about 3.3). At
   an equal total cost of evaluations, ``bayes`` with single noisy evaluations is compared with ``bayes --repeats 2``
   and ``3`` (half or a third as many configurations, each the mean of its repeats; the Gaussian process fits a noise
   level, so it does not chase lucky evaluations). What counts is the TRUE (noise-free) value of the configuration
   each run recommends: its best observed trial.
2. **Coarse to fine**: on the 4-d Rosenbrock function, a coarse random search followed by ``refine`` (bayes in the
   narrowed ranges, warm-started from the coarse trials) is compared with the same total budget of plain bayes and of
   random search.

Prints markdown tables; ``--seeds`` and ``--cost`` change the effort.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import hpmagic
from benchmarks.problems import get_problem

NOISE_SD = 0.5


def noisy_hartmann(seed: int, noise_sd: float = NOISE_SD):
    """Hartmann6 plus Gaussian noise; each call draws fresh noise (independent of the configuration)."""
    problem = get_problem("hartmann6")
    rng = np.random.default_rng(10_000 + seed)

    def f(params):
        return problem(params) + noise_sd * float(rng.standard_normal())

    return problem, f


def noise_run(seed: int, cost: int, repeats: int, noise_sd: float = NOISE_SD) -> float:
    problem, f = noisy_hartmann(seed, noise_sd)
    study = hpmagic.optimize(f, problem.space, strategy="bayes", n_trials=cost // repeats, seed=seed, repeats=repeats)
    recommended = study.best_trial.params
    return problem(recommended) - problem.optimum  # the true regret of what the user would take away


def refine_run(seed: int, cost: int, mode: str) -> float:
    problem = get_problem("rosenbrock4")
    if mode == "random":
        study = hpmagic.optimize(problem, problem.space, strategy="random", n_trials=cost, seed=seed)
    elif mode == "bayes":
        study = hpmagic.optimize(problem, problem.space, strategy="bayes", n_trials=cost, seed=seed)
    else:
        store = hpmagic.Storage(":memory:")
        hpmagic.optimize(
            problem, problem.space, strategy="random", n_trials=cost // 2, seed=seed, storage=store, name="c2f"
        )
        study = hpmagic.optimize(
            problem, problem.space, strategy="bayes", n_trials=cost, seed=seed, storage=store, name="c2f", refine=True
        )
    return study.best_value - problem.optimum


def _row(name: str, regrets: list[float]) -> str:
    return (
        f"| {name} | {statistics.mean(regrets):.4g} | {statistics.median(regrets):.4g} | "
        f"{min(regrets):.4g} .. {max(regrets):.4g} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cost", type=int, default=90)
    args = parser.parse_args()
    seeds = range(args.seeds)
    started = time.perf_counter()

    for noise_sd in (0.5, 1.0):
        print(
            f"### Noise: noisy Hartmann6 (noise sd {noise_sd}), {args.cost} evaluations in total, {args.seeds} seeds\n"
        )
        print("True regret of the recommended configuration (lower is better).\n")
        print("| run | mean | median | range |")
        print("|---|---:|---:|---:|")
        for repeats in (1, 2, 3):
            label = (
                f"bayes, {args.cost} single noisy evaluations"
                if repeats == 1
                else (f"bayes --repeats {repeats} ({args.cost // repeats} configurations)")
            )
            print(_row(label, [noise_run(s, args.cost, repeats, noise_sd) for s in seeds]))
        print()

    cost = 40
    print(f"\n### Coarse to fine: Rosenbrock 4-d, {cost} evaluations in total, {args.seeds} seeds\n")
    print("Regret of the best value found (lower is better).\n")
    print("| run | mean | median | range |")
    print("|---|---:|---:|---:|")
    print(_row(f"random, {cost}", [refine_run(s, cost, "random") for s in seeds]))
    print(_row(f"bayes, {cost}", [refine_run(s, cost, "bayes") for s in seeds]))
    print(_row(f"random {cost // 2}, then bayes --refine {cost // 2}", [refine_run(s, cost, "refine") for s in seeds]))
    print(f"\n(ran in {time.perf_counter() - started:.0f} s; python -m benchmarks.noise_refine --seeds {args.seeds})")


if __name__ == "__main__":
    main()
