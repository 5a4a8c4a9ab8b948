"""Parallel trials on Dask (``make bench-parallel``): speedup, per-trial overhead, and bayes's regret with trials in
flight.

    python -m benchmarks.parallel [--seeds 5] [--budget 40] [--trials 12] [--seconds 0.5]

1. Speedup: the same random search of CPU-bound trials (a busy loop of ``--seconds``, standing for a model fit) with
   ``n_jobs=2`` (a local cluster of two single-threaded worker processes) against one trial at a time in the process.
2. Overhead per trial: trivial trials (no work), in the process and on the workers: what the engine and the Dask
   round trip cost per trial.
3. Regret: bayes at ``--budget`` evaluations on synthetic problems with a known optimum, with 1, 2 and 4 trials in
   flight (the kriging believer accounts for the running ones), mean over ``--seeds``.

Wall-clock figures depend on the machine and on what else runs: run it on a quiet machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import hpmagic  # noqa: E402
from hpmagic import tune  # noqa: E402

REGRET_PROBLEMS = ("branin", "hartmann6", "ackley5")


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def cpu_bound(params: dict[str, Any], seconds: float) -> float:
    busy(seconds)
    return (params["x"] - 0.3) ** 2


def trivial(params: dict[str, Any]) -> float:
    return params["x"]


def speedup(trials: int, seconds: float, client: Any) -> tuple[float, float]:
    space = {"x": tune.uniform(0, 1)}

    def fn(p: dict[str, Any]) -> float:
        return cpu_bound(p, seconds)

    start = time.perf_counter()
    hpmagic.optimize(fn, space, strategy="random", n_trials=trials, seed=0)
    serial = time.perf_counter() - start
    start = time.perf_counter()
    hpmagic.optimize(fn, space, strategy="random", n_trials=trials, seed=0, client=client, n_jobs=2)
    parallel = time.perf_counter() - start
    return serial, parallel


def overhead(trials: int, client: Any) -> tuple[float, float]:
    space = {"x": tune.uniform(0, 1)}
    start = time.perf_counter()
    hpmagic.optimize(trivial, space, strategy="random", n_trials=trials, seed=0, storage=None)
    local = (time.perf_counter() - start) / trials
    hpmagic.optimize(trivial, space, strategy="random", n_trials=10, seed=0, client=client, n_jobs=2)  # warm
    start = time.perf_counter()
    hpmagic.optimize(trivial, space, strategy="random", n_trials=trials, seed=0, client=client, n_jobs=2)
    dask = (time.perf_counter() - start) / trials
    return local * 1000, dask * 1000


PENDING = (
    ("1", 1, "believer"),
    ("2 believer", 2, "believer"),
    ("4 believer", 4, "believer"),
    ("2 liar", 2, "liar"),
    ("4 liar", 4, "liar"),
)


def regret(budget: int, seeds: int, client: Any) -> dict[str, dict[str, float]]:
    """Mean regret per problem and per (trials in flight, how bayes counts the running ones)."""
    from benchmarks.problems import get_problem

    out: dict[str, dict[str, float]] = {}
    for name in REGRET_PROBLEMS:
        problem = get_problem(name)
        out[name] = {}
        for column, k, pending in PENDING:
            found = []
            for seed in range(seeds):
                extra: dict[str, Any] = {} if k == 1 else {"client": client, "n_jobs": k}
                study = hpmagic.optimize(
                    problem,
                    dict(problem.space),
                    strategy="bayes",
                    n_trials=budget,
                    seed=seed,
                    strategy_options={"pending": pending},
                    **extra,
                )
                found.append(study.best_value - float(problem.optimum or 0.0))
            out[name][column] = statistics.mean(found)
            print(f"  {name} {column}: mean regret {out[name][column]:.4g}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--skip-regret", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    if not args.skip_speed:
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
            ) as cluster,
            Client(cluster, set_as_default=False) as two,
        ):
            serial, parallel = speedup(args.trials, args.seconds, two)
            local_ms, dask_ms = overhead(200, two)
        print(f"## Speedup ({args.trials} trials of {args.seconds:g} s CPU, 2 cores)\n")
        print("| run | wall time | speedup |\n| --- | --- | --- |")
        print(f"| in the process, one at a time | {serial:.2f} s | 1.00x |")
        print(f"| `n_jobs=2` (2 worker processes) | {parallel:.2f} s | {serial / parallel:.2f}x |\n")
        print("## Overhead per trivial trial (200 trials)\n")
        print("| path | per trial |\n| --- | --- |")
        print(f"| in the process (in-memory store) | {local_ms:.2f} ms |")
        print(f"| Dask, 2 workers | {dask_ms:.2f} ms |\n")
    if args.skip_regret:
        return
    # Four slots (two workers of two threads): 4 trials in flight at most.
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster, set_as_default=False) as four,
    ):
        table = regret(args.budget, args.seeds, four)
    columns = [c for c, _, _ in PENDING]
    print(f"\n## bayes regret at {args.budget} evaluations, trials in flight (mean of {args.seeds} seeds)\n")
    print("| problem | " + " | ".join(columns) + " |\n| --- |" + " --- |" * len(columns))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.4g}" for c in columns) + " |")


if __name__ == "__main__":
    main()
