"""Per-trial overhead of hpmagic's engine next to Optuna's, on a trivial objective.

    python -m benchmarks.overhead [--trials 1000] [--repeats 3] [--bayes-at 50 100 200] [--out benchmarks/RESULTS.md]

1. Random search, 1,000 trials: hpmagic ``random`` with its default SQLite store (a file in a temporary folder) and
   in memory; Optuna's ``RandomSampler`` in memory and with SQLite storage (``sqlite:///...``). Overhead per trial =
   (wall time - time inside the objective) / trials; the median over ``--repeats`` runs.
2. Model-based strategies as the history grows: the time between the end of one evaluation and the start of the
   next (the previous trial's tell and store, then the next ask) averaged over the last 10 trials before 50, 100 and
   200 trials: hpmagic ``bayes`` (SQLite store), and Optuna's TPE and GP samplers (in memory) for comparison.

Optuna is optional: without it only hpmagic's rows are measured. The table is printed and written into the
"overhead" section of ``--out``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.run import DEFAULT_OUT, _load, environment, write_section  # noqa: E402
from hpmagic.space import Categorical, Float, Int  # noqa: E402

SPACE = {"x": Float(-1.0, 1.0), "n": Int(1, 10), "kind": Categorical(["a", "b", "c"])}


def trivial(params: Mapping[str, Any]) -> float:
    return (params["x"] - 0.3) ** 2 + 1e-3 * params["n"] + (params["kind"] == "b")


class Clock:
    """Wraps the objective: records when each evaluation starts and ends."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []

    def __call__(self, params: Mapping[str, Any]) -> float:
        self.starts.append(time.perf_counter())
        value = trivial(params)
        self.ends.append(time.perf_counter())
        return value

    def inside(self) -> float:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))

    def gaps(self) -> list[float]:
        """Seconds between the end of evaluation i - 1 and the start of evaluation i, for i = 1, 2, ..."""
        return [s - e for e, s in zip(self.ends, self.starts[1:], strict=False)]


# -- the runs -----------------------------------------------------------------------------------------------------


def hpmagic_run(strategy: str, n_trials: int, storage: str | None, seed: int = 0) -> tuple[float, Clock]:
    import hpmagic

    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "hpmagic.db") if storage == "sqlite" else None
        start = time.perf_counter()
        hpmagic.optimize(clock, SPACE, strategy=strategy, n_trials=n_trials, seed=seed, storage=store)
        wall = time.perf_counter() - start
    return wall, clock


def optuna_run(sampler: str, n_trials: int, storage: str | None, seed: int = 0) -> tuple[float, Clock]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    clock = Clock()

    def objective(trial: Any) -> float:
        return clock(
            {
                "x": trial.suggest_float("x", -1.0, 1.0),
                "n": trial.suggest_int("n", 1, 10),
                "kind": trial.suggest_categorical("kind", ["a", "b", "c"]),
            }
        )

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'optuna.db')}" if storage == "sqlite" else None
        start = time.perf_counter()
        study = optuna.create_study(storage=url, sampler=getattr(optuna.samplers, sampler)(seed=seed))
        study.optimize(objective, n_trials=n_trials)
        wall = time.perf_counter() - start
        del study
    return wall, clock


Runner = Callable[[int], tuple[float, Clock]]


def random_search_rows(trials: int, repeats: int, have_optuna: bool) -> list[tuple[str, float, list[float]]]:
    """(label, median ms per trial, every repeat's ms per trial) for the random-search configurations."""
    configs: list[tuple[str, Runner]] = [
        ("hpmagic random, SQLite file (default store)", lambda n: hpmagic_run("random", n, "sqlite")),
        ("hpmagic random, in memory", lambda n: hpmagic_run("random", n, None)),
    ]
    if have_optuna:
        configs += [
            ("Optuna RandomSampler, in memory", lambda n: optuna_run("RandomSampler", n, None)),
            ("Optuna RandomSampler, SQLite (sqlite:///...)", lambda n: optuna_run("RandomSampler", n, "sqlite")),
        ]
    rows = []
    for label, runner in configs:
        runner(20)  # warm-up: imports and first-use costs are not per-trial overhead
        per_trial = []
        for _ in range(repeats):
            wall, clock = runner(trials)
            per_trial.append(1000 * (wall - clock.inside()) / trials)
        rows.append((label, statistics.median(per_trial), per_trial))
        print(f"{label}: {statistics.median(per_trial):.2f} ms/trial ({per_trial})", file=sys.stderr, flush=True)
    return rows


def growth_rows(points: Sequence[int], have_optuna: bool, have_gp: bool) -> list[tuple[str, dict[int, float]]]:
    """(label, {trials: ms per trial over the 10 trials before it}) for the model-based strategies."""
    last = max(points)
    configs: list[tuple[str, Runner]] = [("hpmagic bayes, SQLite file", lambda n: hpmagic_run("bayes", n, "sqlite"))]
    if have_optuna:
        configs.append(("Optuna TPESampler, in memory", lambda n: optuna_run("TPESampler", n, None)))
    if have_gp:
        configs.append(("Optuna GPSampler, in memory", lambda n: optuna_run("GPSampler", n, None)))
    rows = []
    for label, runner in configs:
        runner(12)  # warm-up
        _, clock = runner(last)
        gaps = clock.gaps()  # gaps[k]: before evaluation k + 1 (0-based); trials p-9..p are gaps[p-11 : p-1]
        at = {p: 1000 * statistics.mean(gaps[p - 11 : p - 1]) for p in points}
        rows.append((label, at))
        print(f"{label}: {at}", file=sys.stderr, flush=True)
    return rows


def render(
    random_rows: list[tuple[str, float, list[float]]],
    growth: list[tuple[str, dict[int, float]]],
    *,
    trials: int,
    repeats: int,
    points: Sequence[int],
    command: str,
    notes: Sequence[str],
    env: Mapping[str, Any],
    date: str,
    elapsed: float,
    end_load: str,
) -> str:
    lines = [
        "## Overhead per trial (`make bench-overhead`)",
        "",
        f"- command: `{command}`",
        f"- date: {date}; run time {elapsed / 60:.1f} min",
        f"- machine: {env['nproc']} CPUs ({env['cpu']}), {env['platform']}, OMP_NUM_THREADS={env['omp']}",
        f"- load average (1/5/15 min) at the start: {env['load']}, at the end: {end_load}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        "- objective: a trivial function of a float, an int and a 3-way categorical (microseconds per call)",
        *[f"- {n}" for n in notes],
        "",
        f"Random search, {trials} trials: (wall time - time in the objective) / trials; median of {repeats} runs.",
        "",
        "| configuration | ms/trial (median) | every run |",
        "|---|---:|---|",
    ]
    for label, median, runs in random_rows:
        lines.append(f"| {label} | {median:.2f} | {', '.join(f'{x:.2f}' for x in runs)} |")
    lines += [
        "",
        "Model-based strategies: ms per trial (tell + store + next ask) averaged over the 10 trials before the count "
        "(one run of " + str(max(points)) + " trials, seed 0).",
        "",
        "| strategy | " + " | ".join(f"at {p} trials" for p in points) + " |",
        "|---|" + "---:|" * len(points),
    ]
    for label, at in growth:
        lines.append(f"| {label} | " + " | ".join(f"{at[p]:.1f}" for p in points) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000, help="random-search trials per run (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per random-search configuration (default 3)")
    parser.add_argument("--bayes-at", type=int, nargs="+", default=[50, 100, 200], help="trial counts (>= 11)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if min(args.bayes_at) < 11:
        parser.error("--bayes-at counts must be >= 11 (the last 10 trials before the count are averaged)")
    command = " ".join(["python -m benchmarks.overhead", *(sys.argv[1:] if argv is None else argv)])
    have_optuna = importlib.util.find_spec("optuna") is not None
    have_gp = False
    notes = []
    if have_optuna:
        import optuna

        have_gp = hasattr(optuna.samplers, "GPSampler") and importlib.util.find_spec("torch") is not None
        if not have_gp:
            notes.append("Optuna's GPSampler not measured: it needs torch, which is not installed")
    else:
        notes.append("Optuna is not installed here: only hpmagic is measured (make bench-overhead installs it)")
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    env = environment()
    start = time.perf_counter()
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        random_rows = random_search_rows(args.trials, args.repeats, have_optuna)
        growth = growth_rows(sorted(args.bayes_at), have_optuna, have_gp)
    text = render(
        random_rows,
        growth,
        trials=args.trials,
        repeats=args.repeats,
        points=sorted(args.bayes_at),
        command=command,
        notes=notes,
        env=env,
        date=date,
        elapsed=time.perf_counter() - start,
        end_load=_load(),
    )
    write_section(args.out, "bench:overhead", text)
    print(text)
    print(f"written to {args.out} (section overhead)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
