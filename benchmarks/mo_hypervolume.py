"""Multi-objective search: hypervolume after 40 and 100 evaluations, hpmagic against Optuna.

Run with ``make bench-mo`` or ``.venv-bench/bin/python -m benchmarks.mo_hypervolume [--seeds 5] [--budgets 40 100]
[--problems zdt1,...] [--optimizers ...] [--jobs 2] [--no-write]``; it needs the benchmark environment
(``.venv-bench``: Optuna is the peer). Problems: ``benchmarks/mo_problems.py`` (every objective minimised, a fixed
reference point each).

Each (problem, optimizer, seed) is one run of the largest budget; the hypervolume after ``b`` evaluations is the
hypervolume (``hpmagic.pareto.hypervolume``, against the problem's reference point) of the first ``b`` points the
run evaluated, so the smaller budgets are read off the same runs, as an anytime curve. Optimizers:

* ``hpmagic random``, ``hpmagic evolution`` (NSGA-II on a multi-objective study), ``hpmagic bayes`` (its
  default: EHVI for two or three objectives, ParEGO for more), ``hpmagic bayes-parego``
  (``multi_objective="parego"``: one GP on a random Chebyshev scalarisation per trial) and ``hpmagic bayes-ehvi``
  (``multi_objective="ehvi"``: a GP per objective and expected hypervolume improvement):
  ``hpmagic.optimize(..., directions={...})`` with the strategy's defaults otherwise;
* ``optuna nsga-ii`` (``NSGAIISampler``) and ``optuna tpe`` (``TPESampler``, multi-objective), with Optuna's defaults,
  through its ask-and-tell API.

A run that raises is reported as an error, never dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import mo_problems
from benchmarks.mo_problems import MOProblem
from benchmarks.runs import run_logged

HERE = Path(__file__).resolve().parent
SECTION = "bench:mo"
OPTIMIZERS = (
    "hpmagic random",
    "hpmagic evolution",
    "hpmagic bayes",
    "hpmagic bayes-parego",
    "hpmagic bayes-ehvi",
    "optuna nsga-ii",
    "optuna tpe",
)
#: hpmagic optimizers that are a strategy with options.
VARIANTS = {
    "bayes-parego": ("bayes", {"multi_objective": "parego"}),
    "bayes-ehvi": ("bayes", {"multi_objective": "ehvi"}),
}
BUDGETS = (40, 100)


def run_hpmagic(problem: MOProblem, strategy: str, seed: int, budget: int) -> list[list[float]]:
    import hpmagic

    points: list[list[float]] = []

    def fn(params: dict[str, Any]) -> dict[str, float]:
        values = problem(params)
        points.append([values[k] for k in problem.objectives])
        return values

    strategy, options = VARIANTS.get(strategy, (strategy, None))
    study = hpmagic.optimize(
        fn,
        dict(problem.space),
        strategy=strategy,
        strategy_options=options,
        n_trials=budget,
        seed=seed,
        directions={k: "minimize" for k in problem.objectives},
    )
    failed = [t for t in study.trials if t.state == "failed"]
    if failed:
        raise RuntimeError(f"{len(failed)} failed trials, the first: {failed[0].error}")
    return points


def run_optuna(problem: MOProblem, sampler: str, seed: int, budget: int) -> list[list[float]]:
    import optuna

    from benchmarks.optimizers import _optuna_suggest

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {"nsga-ii": optuna.samplers.NSGAIISampler, "tpe": optuna.samplers.TPESampler}
    study = optuna.create_study(directions=["minimize"] * len(problem.objectives), sampler=samplers[sampler](seed=seed))
    points: list[list[float]] = []
    for _ in range(budget):
        trial = study.ask()
        params = {name: _optuna_suggest(trial, name, dim) for name, dim in problem.space.items()}
        values = problem(params)
        point = [values[k] for k in problem.objectives]
        study.tell(trial, point)
        points.append(point)
    return points


def run_one(args: tuple[str, str, int, int]) -> dict[str, Any]:
    """One (problem, optimizer, seed): the points it evaluated, in order, and its seconds; or the error."""
    name, optimizer, seed, budget = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import warnings

    warnings.filterwarnings("ignore")
    began = time.perf_counter()
    out: dict[str, Any] = dict(problem=name, optimizer=optimizer, seed=seed, points=[], error=None)
    try:
        problem = mo_problems.get(name)
        library, strategy = optimizer.split(" ", 1)
        if library == "optuna":
            out["points"] = run_optuna(problem, strategy, seed, budget)
        else:
            out["points"] = run_hpmagic(problem, strategy, seed, budget)
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["detail"] = traceback.format_exc()
    out["seconds"] = time.perf_counter() - began
    return out


# -- reporting ------------------------------------------------------------------------------------------------------


def hypervolume_at(points: Sequence[Sequence[float]], budget: int, reference: Sequence[float]) -> float:
    """The hypervolume of the first ``budget`` points (all objectives minimised); 0 with none inside the reference."""
    from hpmagic.pareto import hypervolume

    first = np.asarray(points[:budget], dtype=float)
    if len(first) == 0:
        return 0.0
    return float(hypervolume(first, np.asarray(reference, dtype=float)))


def _f(x: float) -> str:
    return f"{x:.3f}"


def report(results: list[dict[str, Any]], budgets: Sequence[int], seeds: int) -> str:
    """Markdown: per problem, the median and mean hypervolume at each budget for each optimizer."""
    lines: list[str] = []
    errors = [r for r in results if r["error"]]
    summary: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["problem"] for r in results):
        problem = mo_problems.get(name)
        best = problem.best_hypervolume
        bound = f"; the true front's hypervolume is {best:.3f}" if best is not None else "; its true front is unknown"
        lines += [
            f"### {name}: {problem.description}",
            "",
            f"Objectives {', '.join(problem.objectives)} (all minimised), reference point "
            f"{tuple(problem.reference)}{bound}. {seeds} seeds; higher is better.",
            "",
            "| optimizer | " + " | ".join(f"HV at {b}, median | mean" for b in budgets) + " | seconds per run |",
            "|---" * (2 * len(budgets) + 2) + "|",
        ]
        for optimizer in dict.fromkeys(r["optimizer"] for r in results):
            runs = [r for r in results if r["problem"] == name and r["optimizer"] == optimizer and not r["error"]]
            if not runs:
                lines.append(f"| {optimizer} | " + " | ".join("error" for _ in range(2 * len(budgets) + 1)) + " |")
                continue
            cells = []
            for b in budgets:
                hv = [hypervolume_at(r["points"], b, problem.reference) for r in runs]
                cells += [_f(statistics.median(hv)), _f(statistics.mean(hv))]
                summary.setdefault(f"{name} {b}", {})[optimizer] = statistics.median(hv)
            seconds = statistics.median(r["seconds"] for r in runs)
            short = "" if len(runs) == seeds else f" ({len(runs)} of {seeds} runs)"
            lines.append(f"| {optimizer}{short} | " + " | ".join(cells) + f" | {seconds:.1f} |")
        lines.append("")
    if summary:
        lines += ["Best median hypervolume per problem and budget:", ""]
        for key, by in summary.items():
            winner = max(by, key=lambda k: by[k])
            lines.append(f"- {key} evaluations: {winner} ({by[winner]:.3f})")
        lines.append("")
    lines.append(f"Errors (runs that raised): {len(errors)}" + ("" if errors else "."))
    for r in errors:
        lines.append(f"- {r['problem']}, {r['optimizer']}, seed {r['seed']}: {r['error']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.run import _git_commit, _load, environment, write_section

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budgets", type=int, nargs="+", default=list(BUDGETS))
    parser.add_argument("--problems", default=",".join(mo_problems.PROBLEMS))
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--no-write", action="store_true", help="print only: leave RESULTS.md alone")
    parser.add_argument("--dump", help="also save the raw points as JSON here")
    parser.add_argument("--from-json", help="report the points a --dump saved, without running anything")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",")]
    optimizers = [o.strip() for o in args.optimizers.split(",")]
    bad = [n for n in names if n not in mo_problems.PROBLEMS] + [o for o in optimizers if o not in OPTIMIZERS]
    if bad:
        parser.error(f"unknown {bad}: problems {tuple(mo_problems.PROBLEMS)}, optimizers {OPTIMIZERS}")
    budgets = sorted(set(args.budgets))
    env, commit = environment(), _git_commit()  # the code the runs import: as it is when they start
    began = time.perf_counter()
    results: list[dict[str, Any]] = []
    tasks = [(n, o, s, budgets[-1]) for n in names for s in range(args.seeds) for o in optimizers]
    if args.from_json:
        results, tasks = json.loads(Path(args.from_json).read_text()), []
    run_logged(run_one, tasks, args.jobs, "optimizer", results, args.dump)
    elapsed = time.perf_counter() - began
    seeds = 1 + max((r["seed"] for r in results), default=-1)
    end = _git_commit()
    moved = "" if end == commit else f" at the start ({end} at the end)"
    venv = Path(sys.executable).parent.parent.name
    command = f"{venv}/bin/python -m benchmarks.mo_hypervolume {' '.join(argv if argv is not None else sys.argv[1:])}"
    header = (
        "## Multi-objective search: hypervolume (`make bench-mo`)\n\n"
        f"- command: `{command.rstrip()}`\n"
        f"- commit {commit}{moved}; {time.strftime('%Y-%m-%d', time.gmtime())}; {elapsed:.0f} s with {args.jobs} "
        "worker processes\n"
        f"- machine: {env['nproc']} CPUs ({env['cpu']}), {env['platform']}, OMP_NUM_THREADS={env['omp']}\n"
        f"- load average (1/5/15 min) at the start: {env['load']}, at the end: {_load()}\n"
        f"- versions: {', '.join(f'{k} {v}' for k, v in env['versions'].items() if v != 'not installed')}\n"
        "- How it is measured: `benchmarks/mo_hypervolume.py`'s docstring; problems: `benchmarks/mo_problems.py`.\n"
    )
    text = header + "\n" + report(results, budgets, seeds)
    print(text)
    if not args.no_write:
        write_section(HERE / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
