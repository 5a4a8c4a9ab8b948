"""Anytime regret against cumulative epochs on multi-fidelity problems whose cheap fidelities mislead.

Run with ``make bench-mf`` (after the digits SGD benchmark) or ``.venv-bench/bin/python -m benchmarks.mf_regret
[--seeds 5] [--problems branin-mf,...] [--quick]``; it needs the benchmark environment (``.venv-bench``: Optuna is
the peer, matplotlib draws the plots). Problems: ``benchmarks/mf_problems.py``.

For each problem and seed, every strategy gets the same total of epochs, the epochs of one whole Hyperband
schedule (eta 3) over the problem's budget 1..S (``cap``):

* ``random (full budget)``: cap // S configurations trained for S epochs each;
* ``random + hyperband``, ``bayes + hyperband`` (BOHB-style): one whole schedule, trials continue saved state;
* ``random + asha``: stopped before its next trial could pass the cap;
* ``optuna tpe + hyperband pruner`` (the peer): ``TPESampler`` with ``HyperbandPruner(1, S, 3)``, trials stopped
  before the cap could be passed. Optuna's pruned trials do not continue: a trial always trains from step 1.

Everything goes through ``hpmagic.optimize`` (``tune.steps()`` / ``tune.report(state=...)``) or Optuna's public API.

Regret: after each trial (in the order they ran), the best value among results at the full budget S so far, minus
the known optimum (the MLP's: the best full-budget value any run of the benchmark found). A low-fidelity value
never counts as a result: it is biased. Epochs are the steps each trial actually trained. "Epochs to target":
until the regret first reaches the median, over the seeds, of the final regret of ``random + hyperband`` (as the
BOHB paper measures speed-ups: how soon a strategy gets where Hyperband ends; ``*``: never, counted as all the
run's epochs). A run that raises is reported as an error, never dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import mf_problems
from benchmarks.mf_problems import Problem
from benchmarks.runs import run_logged

HERE = Path(__file__).resolve().parent
ETA = 3
COMBOS = (
    "random (full budget)",
    "random + hyperband",
    "random + asha",
    "bayes + hyperband",
    "optuna tpe + hyperband pruner",
)
PROBLEMS = ("branin-mf", "hartmann6-mf", "currin-mf", "digits-mlp")

#: One run: (epochs so far, best full-budget value so far or None) after each trial; and its failed trials.
Trace = list[tuple[int, float | None]]


def schedule_epochs(max_steps: int) -> int:
    """Epochs of one whole Hyperband schedule over 1..max_steps when promotions continue saved state."""
    from hpmagic.schedulers._hyperband import bracket_plan

    total = 0
    for rungs in bracket_plan(1, max_steps, ETA):
        prev = 0
        for n, b in rungs:
            total += n * (b - prev)
            prev = b
    return total


def hpmagic_fn(problem: Problem) -> Callable[[dict[str, Any]], float]:
    from hpmagic import tune

    def fn(p: dict[str, Any]) -> float:
        restored = tune.restored()
        state = restored["state"] if restored else problem.start(p)
        value = math.nan
        for s in tune.steps():
            value = problem.step(state, p, s)
            tune.report(value, step=s, state={"state": state})
        return value

    return fn


def hpmagic_space(problem: Problem) -> dict[str, Any]:
    from hpmagic import tune

    return {n: (tune.loguniform(lo, hi) if log else tune.uniform(lo, hi)) for n, lo, hi, log in problem.dims}


def run_hpmagic(problem: Problem, combo: str, seed: int, cap: int) -> tuple[Trace, int, str | None]:
    import hpmagic
    from hpmagic.events import Event, TrialFinished

    top = problem.max_steps
    common: dict[str, Any] = dict(seed=seed, direction="minimize", budget=(1, top))
    fn, space = hpmagic_fn(problem), hpmagic_space(problem)
    if combo == "random (full budget)":
        study = hpmagic.optimize(fn, space, strategy="random", n_trials=cap // top, **common)
    elif combo.endswith("hyperband"):
        sampler = combo.split(" + ")[0]
        study = hpmagic.optimize(fn, space, strategy=sampler, scheduler="hyperband", n_trials=None, **common)
    else:
        used = [0]

        def stop(event: Event) -> None:
            if isinstance(event, TrialFinished):
                attrs = event.trial.user_attrs
                used[0] += int(attrs.get("resource", 0)) - int(attrs.get("start", 0))
                if used[0] + top > cap:
                    event.study.stop()

        study = hpmagic.optimize(
            fn, space, strategy="random", scheduler="asha", n_trials=10_000, reporters=[stop], **common
        )
    out: Trace = []
    used_total, best, failed, first_error = 0, math.inf, 0, None
    for t in sorted(study.trials, key=lambda t: t.number):
        used_total += int(t.user_attrs.get("resource", 0)) - int(t.user_attrs.get("start", 0))
        if t.state == "failed":
            failed += 1
            first_error = first_error or t.error
        elif t.value is not None and math.isfinite(t.value) and int(t.user_attrs.get("resource", 0)) >= top:
            best = min(best, float(t.value))
        out.append((used_total, best if math.isfinite(best) else None))
    return out, failed, first_error


def run_optuna(problem: Problem, seed: int, cap: int) -> tuple[Trace, int, str | None]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    top = problem.max_steps
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top, reduction_factor=ETA),
    )
    out: Trace = []
    used, best, failed, first_error = 0, math.inf, 0, None
    while used + top <= cap:
        trial = study.ask()
        p = {n: trial.suggest_float(n, lo, hi, log=log) for n, lo, hi, log in problem.dims}
        try:
            state = problem.start(p)
            value, pruned = math.nan, False
            for s in range(1, top + 1):
                value = problem.step(state, p, s)
                used += 1
                trial.report(value, s)
                if trial.should_prune():
                    pruned = True
                    break
        except Exception as exc:
            failed += 1
            used += 1  # the step that failed: a problem that always fails still ends
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            out.append((used, best if math.isfinite(best) else None))
            continue
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
            best = min(best, value)
        out.append((used, best if math.isfinite(best) else None))
    return out, failed, first_error


def run_one(args: tuple[str, str, int, int]) -> dict[str, Any]:
    """One (problem, combination, seed): its trace, failed trials, seconds, or the error that stopped it."""
    name, combo, seed, max_steps = args
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import warnings

    warnings.filterwarnings("ignore")
    began = time.perf_counter()
    try:
        problem = mf_problems.get(name, max_steps)
        cap = schedule_epochs(problem.max_steps)
        if combo.startswith("optuna"):
            trace, failed, trial_error = run_optuna(problem, seed, cap)
        else:
            trace, failed, trial_error = run_hpmagic(problem, combo, seed, cap)
        return dict(
            problem=name,
            combo=combo,
            seed=seed,
            trace=trace,
            failed=failed,
            trial_error=trial_error,
            error=None,
            seconds=time.perf_counter() - began,
        )
    except Exception as exc:
        return dict(
            problem=name,
            combo=combo,
            seed=seed,
            trace=[],
            failed=0,
            error=f"{type(exc).__name__}: {exc}",
            detail=traceback.format_exc(),
            seconds=time.perf_counter() - began,
        )


# -- reporting ------------------------------------------------------------------------------------------------------


def regret_at(trace: Trace, epochs: float, optimum: float) -> float:
    """The regret after the last trial that ended within ``epochs`` (inf before any full-budget result)."""
    best = math.inf
    for used, value in trace:
        if used > epochs:
            break
        if value is not None:
            best = value
    return best - optimum


def epochs_to(trace: Trace, target: float, optimum: float) -> tuple[int, bool]:
    for used, value in trace:
        if value is not None and value - optimum <= target + 1e-12:
            return used, True
    return (trace[-1][0] if trace else 0), False


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.1e}"


def report(results: list[dict[str, Any]], max_steps: dict[str, int], seeds: int, plot_dir: Path | None) -> str:
    """Markdown: per problem, regret at a quarter, half and all of the epochs, epochs to target; plots."""
    lines: list[str] = []
    errors = [r for r in results if r["error"]]
    for name in dict.fromkeys(r["problem"] for r in results):
        runs = [r for r in results if r["problem"] == name and not r["error"]]
        problem_optimum = mf_problems.get(name, max_steps[name]).optimum if name != "digits-mlp" else None
        finals = [v for r in runs for _u, v in r["trace"] if v is not None]
        optimum = problem_optimum if problem_optimum is not None else (min(finals) if finals else 0.0)
        top = max_steps[name]
        cap = schedule_epochs(top)
        by = {c: [r for r in runs if r["combo"] == c] for c in COMBOS}
        base = [regret_at(r["trace"], cap, optimum) for r in by["random + hyperband"]]
        target = statistics.median(base) if base else math.nan
        known = "known optimum" if problem_optimum is not None else "best full-budget value of any run"
        lines += [
            f"### {name}: budget 1..{top} epochs, {cap} epochs per run ({seeds} seeds)",
            "",
            f"Regret against the {known} ({optimum:.6g}). Target: regret {_fmt(target)} (median final regret of "
            "random + hyperband: how soon each strategy gets where Hyperband ends).",
            "",
            "| strategy | regret at 1/4 epochs, median | at 1/2 | at all, median | mean | epochs to target, median | "
            "mean | reached | failed trials |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        reached: dict[str, list[tuple[int, bool]]] = {}
        for combo, rs in by.items():
            if not rs:
                continue
            at = {f: [regret_at(r["trace"], cap * f, optimum) for r in rs] for f in (0.25, 0.5, 1.0)}
            reached[combo] = [epochs_to(r["trace"], target, optimum) for r in rs]
            used = [e for e, _ok in reached[combo]]
            lines.append(
                f"| {combo} | {_fmt(statistics.median(at[0.25]))} | {_fmt(statistics.median(at[0.5]))} | "
                f"{_fmt(statistics.median(at[1.0]))} | {_fmt(statistics.mean(at[1.0]))} | "
                f"{statistics.median(used):.0f} | {statistics.mean(used):.0f} | "
                f"{sum(ok for _e, ok in reached[combo])}/{len(rs)} | {sum(r['failed'] for r in rs)} |"
            )
        if "bayes + hyperband" in reached and "random + hyperband" in reached:
            bohb = statistics.median(e for e, _ok in reached["bayes + hyperband"])
            hb = statistics.median(e for e, _ok in reached["random + hyperband"])
            lines += [
                "",
                f"bayes + hyperband against random + hyperband, epochs to target (median): "
                f"**{'fewer' if bohb < hb else 'NOT fewer'}** ({bohb:.0f} vs {hb:.0f}).",
            ]
        lines += ["", "Epochs to target per seed (`*` = never reached):", ""]
        lines.append("| seed | " + " | ".join(reached) + " |")
        lines.append("|---" * (len(reached) + 1) + "|")
        for i in range(seeds):
            cells = []
            for combo in reached:
                rs = [r for r in by[combo] if r["seed"] == i]
                if not rs:
                    cells.append("error")
                    continue
                e, ok = epochs_to(rs[0]["trace"], target, optimum)
                cells.append(f"{e}{'' if ok else '*'}")
            lines.append(f"| {i} | " + " | ".join(cells) + " |")
        if plot_dir is not None:
            path = plot_dir / f"mf_{name}.png"
            plot(name, by, optimum, cap, path)
            lines += ["", f"![{name}]({path.name})"]
        lines.append("")
    lines.append(f"Errors (runs that raised): {len(errors)}" + ("" if errors else "."))
    for r in errors:
        lines.append(f"- {r['problem']}, {r['combo']}, seed {r['seed']}: {r['error']}")
    failing = [r for r in results if r["failed"]]
    lines.append(f"Runs with failed trials: {len(failing)}" + ("" if failing else "."))
    for r in failing:
        lines.append(
            f"- {r['problem']}, {r['combo']}, seed {r['seed']}: {r['failed']} failed trials, the first: "
            f"{r.get('trial_error')}"
        )
    return "\n".join(lines)


def plot(name: str, by: dict[str, list[dict[str, Any]]], optimum: float, cap: int, path: Path) -> None:
    """Median regret (line) and its interquartile band against cumulative epochs, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(1, cap, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for combo, rs in by.items():
        if not rs:
            continue
        curves = np.array([[regret_at(r["trace"], g, optimum) for g in grid] for r in rs])
        curves = np.maximum(curves, 1e-6)
        med = np.median(curves, axis=0)
        lo, hi = np.percentile(curves, 25, axis=0), np.percentile(curves, 75, axis=0)
        ok = np.isfinite(med)
        (line,) = ax.plot(grid[ok], med[ok], label=combo)
        band = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(grid[band], lo[band], hi[band], color=line.get_color(), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("cumulative epochs")
    ax.set_ylabel("regret of the best full-budget result")
    ax.set_title(f"{name}: median over {len(next(iter(by.values())))} seeds (band: quartiles)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.run import write_section

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--combos", default=",".join(COMBOS))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="3 seeds, budgets 1..27, no RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only: leave RESULTS.md and the plots alone")
    parser.add_argument("--dump", help="also save the raw traces as JSON here")
    parser.add_argument("--from-json", help="report (and plot) the traces a --dump saved, without running anything")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.problems.split(",")]
    combos = [c.strip() for c in args.combos.split(",")]
    bad = [n for n in names if n not in PROBLEMS] + [c for c in combos if c not in COMBOS]
    if bad:
        parser.error(f"unknown {bad}: problems {PROBLEMS}, combos {COMBOS}")
    seeds = 3 if args.quick else args.seeds
    max_steps = {n: (27 if args.quick else mf_problems.get(n).max_steps) for n in names}
    tasks = [(n, c, s, max_steps[n]) for n in names for s in range(seeds) for c in combos]
    began = time.perf_counter()
    results = []
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        names = list(dict.fromkeys(r["problem"] for r in results))
        seeds = 1 + max(r["seed"] for r in results)
        max_steps = {n: mf_problems.get(n).max_steps for n in names}
        tasks = []
    run_logged(run_one, tasks, args.jobs, "combo", results, args.dump)
    elapsed = time.perf_counter() - began
    write = not (args.quick or args.no_write)
    body = report(results, max_steps, seeds, HERE if write else None)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout
    load = os.getloadavg()
    header = (
        "## Multi-fidelity regret (`make bench-mf`, second part)\n\n"
        f"- command: `{Path(sys.executable).parent.parent.name}/bin/python -m benchmarks.mf_regret "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}".rstrip()
        + "`\n"
        f"- commit {commit.strip()} (with the working tree's benchmarks), {os.cpu_count()} CPUs, {args.jobs} "
        f"worker processes, load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}; {elapsed:.0f} s.\n"
        "- How it is measured: `benchmarks/mf_regret.py`'s docstring; problems: `benchmarks/mf_problems.py`.\n"
    )
    text = header + "\n" + body
    print(text)
    if write:
        write_section(HERE / "RESULTS.md", "bench:mf-regret", text)


if __name__ == "__main__":
    main()
