"""Run the benchmark: every problem x optimizer x seed at one evaluation budget, and write a markdown report.

    python -m benchmarks.run [--quick] [--problems ...] [--optimizers ...] [--budget 40] [--seeds 5]
                             [--jobs 1] [--out benchmarks/RESULTS.md]

Metrics (benchmarks/README.md explains them):

- normalized regret = (best found - optimum) / (E[best of random search at the same budget] - optimum): 0 is the
  optimum, 1 is as good as random search. E[...] comes from a pool of random evaluations cached in .cache/; where
  the optimum is unknown (scikit-learn problems) the best value ever seen (pool and every run) stands in for it;
- mean rank of the optimizers on each problem (1 = best; ties share the average rank), averaged over seeds;
- overhead per trial = (wall time of the run - time inside the objective) / evaluations.

The report goes into a section of ``--out`` (quick, full or custom run) so the other sections stay.
"""

from __future__ import annotations

import os

# On 2 cores, multithreaded BLAS next to a busy process is very slow; set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterable, Mapping, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.optimizers import (  # noqa: E402
    OPTIMIZERS,
    RunResult,
    availability,
    available_optimizers,
    hpmagic_strategies,
    library_version,
)
from benchmarks.optimizers import run as run_optimizer  # noqa: E402
from benchmarks.problems import PROBLEMS, QUICK_PROBLEMS, Problem, get_problem, sample_params  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "benchmarks"
DEFAULT_OUT = Path(__file__).resolve().parent / "RESULTS.md"
#: Seed of the random pools: far from the run seeds (0, 1, 2, ...) so the pool is not the numpy-random runs.
POOL_SEED = 20_261_129

QUICK = {"problems": QUICK_PROBLEMS, "seeds": 3, "budgets": [30]}
FULL = {"problems": list(PROBLEMS), "seeds": 5, "budgets": [20, 40, 100]}
#: The tools hpmagic-bayes is measured against (the budget sweep's "best peer").
PEERS = ("optuna-gp", "optuna-tpe", "skopt-gp", "hyperopt-tpe")


# -- the random pool and the expected best of random search ------------------------------------------------------


def _pool_key(problem: Problem, size: int) -> str:
    parts = [problem.name, problem.description, str(size), str(POOL_SEED)]
    parts += [f"{n}={d.describe()}" for n, d in problem.space.items()]
    if problem.kind == "sklearn":
        parts.append(f"sklearn={library_version('sklearn')}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def random_pool(problem: Problem, size: int | None = None, cache_dir: Path | None = DEFAULT_CACHE) -> np.ndarray:
    """``size`` random evaluations of ``problem`` (sorted ascending), cached in ``cache_dir`` (None: no cache)."""
    size = problem.pool_size if size is None else size
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"pool-{problem.name}-{size}-{_pool_key(problem, size)}.npy"
        if path.exists():
            return np.load(path)
    rng = np.random.default_rng(POOL_SEED)
    values = np.sort(np.array([problem(sample_params(problem.space, rng)) for _ in range(size)], dtype=float))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, values)
    return values


def expected_best_of_random(pool: Sequence[float], budget: int) -> float:
    """E[min of ``budget`` random evaluations], estimated exactly from the pool by order statistics.

    With the pool sorted ascending, x(1) <= ... <= x(N), the minimum of ``budget`` values drawn without replacement
    is x(i) with probability C(N - i, B - 1) / C(N, B); the weighted sum is the unbiased (U-statistic) estimate of
    the expected best of B independent random draws.
    """
    x = np.sort(np.asarray(pool, dtype=float))
    n, b = len(x), int(budget)
    if not 1 <= b <= n:
        raise ValueError(f"the random pool ({n} values) must be at least the budget ({b})")
    i = np.arange(1, n - b + 2)
    log_w = _log_comb(n - i, b - 1) - _log_comb(n, b)
    return float(np.sum(np.exp(log_w) * x[: n - b + 1]))


def _log_comb(n: Any, k: int) -> Any:
    lg = np.vectorize(math.lgamma)
    return lg(np.asarray(n) + 1.0) - math.lgamma(k + 1.0) - lg(np.asarray(n) - k + 1.0)


# -- metrics ------------------------------------------------------------------------------------------------------


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values`` (smallest first); ties share the average of their ranks."""
    order = sorted(range(len(values)), key=lambda j: values[j])
    ranks = [0.0] * len(values)
    pos = 0
    while pos < len(order):
        end = pos
        while end + 1 < len(order) and values[order[end + 1]] == values[order[pos]]:
            end += 1
        for j in order[pos : end + 1]:
            ranks[j] = (pos + end) / 2 + 1
        pos = end + 1
    return ranks


@dataclass
class Row:
    """One optimizer on one problem, over the seeds."""

    regrets: list[float] = field(default_factory=list)
    ranks: list[float] = field(default_factory=list)
    bests: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def regret_mean(self) -> float:
        return float(np.mean(self.regrets)) if self.regrets else math.nan

    @property
    def regret_std(self) -> float:
        return float(np.std(self.regrets, ddof=1)) if len(self.regrets) > 1 else 0.0

    @property
    def rank_mean(self) -> float:
        return float(np.mean(self.ranks)) if self.ranks else math.nan

    @property
    def overhead_ms(self) -> float:
        return 1000 * float(np.mean(self.overheads)) if self.overheads else math.nan


@dataclass
class ProblemSummary:
    problem: str
    kind: str
    description: str
    optimum: float
    optimum_known: bool
    random_expected: float
    pool_size: int
    budget: int
    rows: dict[str, Row]
    error: str | None = None


def summarise(
    results: Iterable[RunResult],
    pools: Mapping[str, np.ndarray | str],
    budget: int,
    optimizers: Sequence[str],
) -> list[ProblemSummary]:
    """Normalized regrets, ranks and overheads for each problem (in the order the pools are given).

    A pool given as a string is the error the problem raised when evaluated: the problem stays in the report, with
    that error in every optimizer's row, and every optimizer's overall mean is marked incomplete.
    """
    by_problem: dict[str, list[RunResult]] = {}
    for r in results:
        if r.n_trials == budget:
            by_problem.setdefault(r.problem, []).append(r)
    summaries = []
    for name, pool in pools.items():
        problem = get_problem(name)
        runs = by_problem.get(name, [])
        if isinstance(pool, str):
            rows = {o: Row(errors=[f"the problem failed to evaluate: {pool}"]) for o in optimizers}
            summaries.append(
                ProblemSummary(
                    name, problem.kind, problem.description, math.nan, False, math.nan, 0, budget, rows, pool
                )
            )
            continue
        ok = [r for r in runs if r.error is None and math.isfinite(r.best)]
        known = problem.optimum is not None
        optimum = float(problem.optimum) if known else min([float(pool[0]), *(r.best for r in ok)])
        expected = expected_best_of_random(pool, budget)
        scale = expected - optimum
        rows = {o: Row() for o in optimizers}
        for r in runs:
            row = rows.setdefault(r.optimizer, Row())
            if r.error is not None:
                row.errors.append(f"seed {r.seed}: {r.error}")
                continue
            gap = r.best - optimum
            if known and gap < -1e-9 * max(1.0, abs(optimum)):
                warnings.warn(
                    f"{name}: {r.optimizer} found {r.best!r} below the known optimum {optimum!r}", stacklevel=2
                )
            gap = max(gap, 0.0)  # a known optimum's last bit of rounding
            row.regrets.append(gap / scale if scale > 0 else math.nan)
            row.bests.append(r.best)
            row.overheads.append(r.overhead_per_trial)
            row.evaluations.append(len(r.evaluations))
        for seed in sorted({r.seed for r in ok}):
            same_seed = [r for r in ok if r.seed == seed]
            for r, rank in zip(same_seed, average_ranks([r.best for r in same_seed]), strict=True):
                rows[r.optimizer].ranks.append(rank)
        summaries.append(
            ProblemSummary(name, problem.kind, problem.description, optimum, known, expected, len(pool), budget, rows)
        )
    return summaries


def overall(summaries: Sequence[ProblemSummary], optimizers: Sequence[str]) -> list[dict[str, Any]]:
    """Per optimizer: mean normalized regret over problems (all, synthetic, scikit-learn), mean rank, overhead."""
    out = []
    for o in optimizers:
        rows = [(s, s.rows[o]) for s in summaries if o in s.rows and s.rows[o].regrets]

        def mean(xs: list[float]) -> float:
            xs = [x for x in xs if math.isfinite(x)]
            return float(np.mean(xs)) if xs else math.nan

        missing = [s.problem for s in summaries if o not in s.rows or not math.isfinite(s.rows[o].regret_mean)]
        out.append(
            {
                "optimizer": o,
                "missing": missing,
                "regret": mean([r.regret_mean for _, r in rows]),
                "regret_synthetic": mean([r.regret_mean for s, r in rows if s.kind == "synthetic"]),
                "regret_sklearn": mean([r.regret_mean for s, r in rows if s.kind == "sklearn"]),
                "rank": mean([r.rank_mean for _, r in rows]),
                "overhead_ms": mean([r.overhead_ms for _, r in rows]),
                "problems": len(rows),
                "errors": sum(len(s.rows[o].errors) for s in summaries if o in s.rows),
            }
        )
    return sorted(out, key=lambda d: (math.isnan(d["rank"]), d["rank"]))


# -- the report ---------------------------------------------------------------------------------------------------


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _g(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.6g}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    """The commit hpmagic was run from, and whether hpmagic/ had changes not committed yet."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "hpmagic"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    paths = [line[3:] for line in dirty.splitlines() if line.strip()]  # "XY path"
    if not paths:
        return sha or "unknown"
    shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
    return f"{sha or 'unknown'}, with uncommitted changes in {shown}"


def environment() -> dict[str, Any]:
    """Versions of the libraries, the machine and the threads setting, for the report."""
    libs = ["numpy", "scipy", "scikit-learn", "scikit-optimize", "optuna", "hyperopt", "torch", "hpmagic"]
    versions = {"Python": platform.python_version()}
    versions |= {lib: library_version(lib) or "not installed" for lib in libs}
    versions["hpmagic"] += f" (git {_git_commit()})"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {
        "versions": versions,
        "nproc": usable,
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "omp": os.environ.get("OMP_NUM_THREADS", "unset"),
        "load": _load(),
    }


def _load() -> str:
    """The 1/5/15-minute load averages: other processes on a 2-core machine inflate every timing."""
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"


def render(
    summaries: Sequence[ProblemSummary],
    optimizers: Sequence[str],
    skipped: Mapping[str, str],
    *,
    title: str,
    command: str,
    seeds: int,
    elapsed: float,
    env: Mapping[str, Any],
    date: str,
    jobs: int = 1,
    header: bool = True,
) -> str:
    """The markdown section of one benchmark run (one budget); without ``header``, no command/machine lines."""
    budget = summaries[0].budget if summaries else 0
    lines = [f"## {title}", ""]
    meta = [
        f"- command: `{command}`",
        f"- date: {date}; run time {elapsed / 60:.1f} min ({jobs} worker process{'es' if jobs > 1 else ''})",
        f"- {len(summaries)} problems x {len(optimizers)} optimizers x {seeds} seeds, budget {budget} evaluations",
        f"- machine: {env['nproc']} CPUs ({env['cpu']}), {env['platform']}, OMP_NUM_THREADS={env['omp']}",
        f"- load average (1/5/15 min) at the start: {env.get('load')}, at the end: {env.get('load_end') or _load()}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
    ]
    meta += [f"- not run: **{name}**: {why}" for name, why in skipped.items()]
    meta += [f"- part {i}: {part}" for i, part in enumerate(env.get("parts", []), 1)]
    lines += meta if header else []
    lines += [
        "" if header else f"{len(summaries)} problems x {len(optimizers)} optimizers x {seeds} seeds.",
        "Normalized regret: 0 = the optimum, 1 = as good as random search at the same budget (lower is better).",
        "Rank: 1 = best on a problem and seed (ties share their average), averaged over seeds, then over problems.",
        "Overhead: the optimizer's own time per trial (wall time minus time inside the objective).",
        "",
        "### Overall",
        "",
        "| optimizer | mean normalized regret | synthetic | scikit-learn | mean rank | overhead ms/trial |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for d in overall(summaries, optimizers):
        err = f" ({d['errors']} failed runs)" if d["errors"] else ""
        if d["missing"]:
            err += f" (**incomplete**: no regret on {', '.join(d['missing'])})"
        lines.append(
            f"| {d['optimizer']}{err} | {_f(d['regret'])} | {_f(d['regret_synthetic'])} | {_f(d['regret_sklearn'])} "
            f"| {_f(d['rank'], 2)} | {_f(d['overhead_ms'], 1)} |"
        )
    lines += ["", "### Per problem", ""]
    for s in summaries:
        if s.error is not None:
            lines += [f"**{s.problem}**: {s.description}. **Error**: the problem failed to evaluate: {s.error}", ""]
            continue
        if not any(row.regrets or row.errors for row in s.rows.values()):
            lines += [f"**{s.problem}**: not run at budget {s.budget} (every mean above is incomplete).", ""]
            continue
        opt = f"known optimum {_g(s.optimum)}" if s.optimum_known else f"optimum unknown: best seen {_g(s.optimum)}"
        lines += [
            f"**{s.problem}**: {s.description}. {opt}; E[best of {s.budget} random] = {_g(s.random_expected)} "
            f"(pool of {s.pool_size}).",
            "",
            "| optimizer | normalized regret (mean ± std) | best value (mean) | mean rank | overhead ms/trial |",
            "|---|---:|---:|---:|---:|",
        ]
        ordered = sorted(s.rows.items(), key=lambda kv: (math.isnan(kv[1].rank_mean), kv[1].rank_mean))
        for name, row in ordered:
            if not row.regrets and not row.errors:
                continue
            note = ""
            if row.errors:
                note = f" ({len(row.errors)} failed: {row.errors[0]})"
            elif row.evaluations and min(row.evaluations) < s.budget:
                note = f" (ran {min(row.evaluations)} evaluations: search space exhausted)"
            lines.append(
                f"| {name}{note} | {_f(row.regret_mean)} ± {_f(row.regret_std)} "
                f"| {_g(float(np.mean(row.bests))) if row.bests else '–'} | {_f(row.rank_mean, 2)} "
                f"| {_f(row.overhead_ms, 1)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def sweep_table(by_budget: Mapping[int, Sequence[ProblemSummary]], optimizers: Sequence[str]) -> list[dict[str, Any]]:
    """Per budget: every optimizer's mean normalized regret, the best peer's, and hpmagic-bayes's ratio to it."""
    out = []
    for budget, summaries in by_budget.items():
        means = {d["optimizer"]: d for d in overall(summaries, optimizers)}
        peers = [(means[o]["regret"], o) for o in PEERS if o in means and math.isfinite(means[o]["regret"])]
        best_peer = min(peers) if peers else (math.nan, "")
        bayes = means.get("hpmagic-bayes", {}).get("regret", math.nan)
        out.append(
            {
                "budget": budget,
                "means": means,
                "best_peer": best_peer[1],
                "best_peer_regret": best_peer[0],
                "ratio": bayes / best_peer[0] if best_peer[0] and math.isfinite(best_peer[0]) else math.nan,
            }
        )
    return out


def render_sweep(
    by_budget: Mapping[int, Sequence[ProblemSummary]], optimizers: Sequence[str], plot: str | None
) -> list[str]:
    """The table of mean normalized regret against budget (one column per budget) and bayes's ratio to the best peer."""
    table = sweep_table(by_budget, optimizers)
    budgets = [t["budget"] for t in table]
    lines = [
        "### Mean normalized regret against budget",
        "",
        "| optimizer | " + " | ".join(f"budget {b}" for b in budgets) + " |",
        "|---|" + "---:|" * len(budgets),
    ]
    for o in optimizers:
        cells = []
        for t in table:
            d = t["means"].get(o)
            incomplete = d is not None and (d["missing"] or d["errors"])
            cells.append(_f(d["regret"]) + (" (incomplete)" if incomplete else "") if d else "–")
        lines.append(f"| {o} | " + " | ".join(cells) + " |")
    lines.append(
        "| **hpmagic-bayes / best peer** | "
        + " | ".join(f"**{_f(t['ratio'], 2)}** ({t['best_peer']})" for t in table)
        + " |"
    )
    lines += ["", f"Peers: {', '.join(PEERS)}; the target is a ratio of at most 0.8 at every budget."]
    if plot:
        lines += ["", f"![mean normalized regret against budget]({plot})"]
    return lines + [""]


def plot_sweep(by_budget: Mapping[int, Sequence[ProblemSummary]], optimizers: Sequence[str], path: Path) -> bool:
    """A PNG of mean normalized regret against budget, one line per optimizer; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    table = sweep_table(by_budget, optimizers)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for o in optimizers:
        xs = [t["budget"] for t in table if o in t["means"]]
        ys = [t["means"][o]["regret"] for t in table if o in t["means"]]
        ax.plot(xs, ys, marker="o", linewidth=2.5 if o == "hpmagic-bayes" else 1.2, label=o)
    ax.set_xscale("log")
    ax.set_xticks([t["budget"] for t in table], [str(t["budget"]) for t in table])
    ax.set_xlabel("evaluations (budget)")
    ax.set_ylabel("mean normalized regret (1 = random search)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


_HEADER = """# hpmagic benchmark results

How these numbers are made, and what they mean: [README.md](README.md). Each section below is written by the
command it names; running it again replaces only its own section.
"""


def write_section(path: Path, key: str, text: str) -> None:
    """Put ``text`` between ``<!-- BEGIN key -->`` and ``<!-- END key -->`` in ``path``, replacing what was there."""
    begin, end = f"<!-- BEGIN {key} -->", f"<!-- END {key} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old, count=1)
    else:
        new = old.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


# -- running ------------------------------------------------------------------------------------------------------


def _task(args: tuple[str, str, int, int]) -> dict[str, Any]:
    optimizer, problem, budget, seed = args
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return run_optimizer(optimizer, get_problem(problem), budget, seed).to_dict()


def run_all(
    problems: Sequence[str],
    optimizers: Sequence[str],
    seeds: int,
    budget: int | Sequence[int],
    jobs: int = 1,
    log: Any = None,
    on_result: Callable[[list[RunResult], int], None] | None = None,
) -> list[RunResult]:
    """Every budget x problem x seed x optimizer (largest budget first); ``jobs`` > 1: that many worker processes.

    ``on_result(results so far, tasks in all)`` is called after each run (the caller saves them as they come).
    """
    budgets = sorted([budget] if isinstance(budget, int) else budget, reverse=True)
    tasks = [(o, p, b, seed) for b in budgets for p in problems for seed in range(seeds) for o in optimizers]
    results: list[RunResult] = []
    start = time.perf_counter()

    def note(i: int, r: RunResult) -> None:
        if on_result is not None:
            on_result(results, len(tasks))
        if log is not None:
            status = f"error {r.error}" if r.error else f"best {r.best:.6g}"
            print(
                f"[{i}/{len(tasks)} {time.perf_counter() - start:6.0f}s] {r.problem} {r.optimizer} "
                f"budget {r.n_trials} seed {r.seed}: "
                f"{status}, {r.wall_time:.1f}s, overhead {1000 * r.overhead_per_trial:.1f} ms/trial",
                file=log,
                flush=True,
            )

    if jobs <= 1:
        for i, t in enumerate(tasks, 1):
            r = RunResult.from_dict(_task(t))
            results.append(r)
            note(i, r)
    else:
        import multiprocessing

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for i, d in enumerate(pool.map(_task, tasks), 1):
                r = RunResult.from_dict(d)
                results.append(r)
                note(i, r)
    return results


def load_pools(
    problems: Sequence[str], budget: int, pool_size: int | None, cache_dir: Path | None
) -> dict[str, np.ndarray | str]:
    """The random pool of every problem, from the cache or evaluated now (and then cached).

    A problem that fails to evaluate gets its error (a string) instead of a pool: the report shows it.
    """
    pools: dict[str, np.ndarray | str] = {}
    for p in problems:
        problem = get_problem(p)
        size = max(pool_size or problem.pool_size, budget)
        t0 = time.perf_counter()
        try:
            pools[p] = random_pool(problem, size, cache_dir)
        except Exception as exc:  # noqa: BLE001 - reported as the problem's error, the benchmark goes on
            pools[p] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(f"problem {p} failed to evaluate: {pools[p]}", file=sys.stderr)
        if time.perf_counter() - t0 > 1:
            print(f"random pool of {p}: {size} evaluations in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    return pools


def merge_saved(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Raw results of several runs (the peers once, hpmagic at a later commit; one budget at a time) as one run.

    The runs must share seeds; problems and budgets are the union (a problem a budget's runs left out shows as
    missing, and the means at that budget are marked incomplete). An optimizer run on the same problem at the same
    budget in several parts counts from the first only. Every run's command, date, commit and load go in the report.
    """
    first = dict(parts[0])
    if len(parts) == 1:
        return first
    for p in parts[1:]:
        if p["seeds"] != first["seeds"]:
            raise SystemExit(f"--from-json: the runs differ in seeds: {first['seeds']} and {p['seeds']}")
    problems: list[str] = []
    optimizers: list[str] = []
    seen: set[tuple[str, str, int]] = set()
    results: list[Any] = []
    budgets: set[int] = set()
    for p in parts:
        mine = {(r["optimizer"], r["problem"], r["n_trials"]) for r in p["results"]} - seen
        results += [r for r in p["results"] if (r["optimizer"], r["problem"], r["n_trials"]) in mine]
        seen |= mine
        optimizers += [o for o in p["optimizers"] if o not in optimizers]
        problems += [q for q in p["problems"] if q not in problems]
        budgets |= set(p.get("budgets") or [p["budget"]])
    first["optimizers"] = optimizers
    first["problems"] = problems
    first["results"] = results
    first["budgets"] = sorted(budgets)
    first["skipped"] = {k: v for p in parts for k, v in p["skipped"].items() if k not in optimizers}
    first["elapsed"] = sum(p["elapsed"] for p in parts)
    first["command"] = " ; ".join(p["command"] for p in parts)
    env = dict(first["env"])
    env["parts"] = [
        f"`{p['command']}` ({', '.join(p['optimizers'])}): {p['date']}, hpmagic {p['env']['versions']['hpmagic']}, "
        f"load {p['env'].get('load')} at the start, {p['env'].get('load_end')} at the end"
        for p in parts
    ]
    first["env"] = env
    return first


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 synthetic + 2 scikit-learn problems, 3 seeds, budget 30"
    )
    parser.add_argument("--problems", nargs="+", help=f"problem names (default: all): {', '.join(PROBLEMS)}")
    parser.add_argument("--optimizers", nargs="+", help="optimizer names (default: every one installed)")
    parser.add_argument("--budget", type=int, help="one budget: evaluations per run (30 with --quick)")
    parser.add_argument(
        "--budgets", type=int, nargs="+", help="budgets of the sweep (default 20 40 100; 30 with --quick)"
    )
    parser.add_argument("--seeds", type=int, help="seeds per problem and optimizer (default 5; 3 with --quick)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1: timings undisturbed)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file to write (default: %(default)s)")
    parser.add_argument("--section", help="section of --out to replace (default: quick, full or custom)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="random pools and raw results")
    parser.add_argument("--pool-size", type=int, help="random pool size for every problem (default: per problem)")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="re-render a report from saved raw results files (several: runs of different optimizers, merged)",
    )
    parser.add_argument("--list", action="store_true", help="list problems and optimizers, then exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python -m benchmarks.run", *argv_list])
    preset = QUICK if args.quick else FULL
    available, skipped = available_optimizers()
    for strategy, why in hpmagic_strategies().items():
        if why is not None:
            skipped[f"hpmagic-{strategy}"] = why
    if args.list:
        for p in PROBLEMS.values():
            print(f"problem   {p.name:18s} {p.kind:9s} {p.description}")
        for name in OPTIMIZERS:
            print(f"optimizer {name:18s} {'ok' if name in available else 'skipped: ' + skipped[name]}")
        return 0

    if args.from_json:
        saved = merge_saved([json.loads(p.read_text()) for p in args.from_json])
        problems, optimizers = saved["problems"], saved["optimizers"]
        seeds, skipped = saved["seeds"], saved["skipped"]
        budgets = saved.get("budgets") or [saved["budget"]]
        results = [RunResult.from_dict(d) for d in saved["results"]]
        command, elapsed, env, date, jobs = (
            saved["command"],
            saved["elapsed"],
            saved["env"],
            saved["date"],
            saved["jobs"],
        )
        section = args.section or saved["section"]
        pools = load_pools(problems, max(budgets), args.pool_size, args.cache_dir)
    else:
        problems = args.problems or preset["problems"]
        for p in problems:
            get_problem(p)
        if args.optimizers:
            unknown = [o for o in args.optimizers if o.partition("@")[0] not in OPTIMIZERS]
            if unknown:
                print(f"unknown optimizers {unknown}; choose from: {', '.join(OPTIMIZERS)}", file=sys.stderr)
                return 2
            variants = {o: availability(o) for o in args.optimizers if "@" in o}
            if any(variants.values()):
                print("; ".join(f"{o}: {why}" for o, why in variants.items() if why), file=sys.stderr)
                return 2
            optimizers = [o for o in args.optimizers if o.partition("@")[0] in available]
            bases = {o.partition("@")[0] for o in args.optimizers}
            skipped = {o: why for o, why in skipped.items() if o in bases}
        else:
            optimizers = available
        if not optimizers:  # one is enough: a run of one optimizer is merged with others by --from-json
            print(f"no optimizer can run here: {skipped}", file=sys.stderr)
            return 2
        seeds = args.seeds or preset["seeds"]
        budgets = sorted(set(args.budgets or ([args.budget] if args.budget else preset["budgets"])))
        custom = args.problems or args.optimizers or args.budget or args.budgets or args.seeds
        section = args.section or ("quick" if args.quick and not custom else "full" if not custom else "custom")
        jobs = max(1, args.jobs)
        date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        env = environment()
        start = time.perf_counter()
        pools = load_pools(problems, max(budgets), args.pool_size, args.cache_dir)
        print(f"benchmark ({section}): {problems} x {optimizers} x {seeds} seeds, budgets {budgets}", file=sys.stderr)
        if skipped:
            print(f"skipped: {skipped}", file=sys.stderr)
        runnable = [p for p in problems if not isinstance(pools[p], str)]
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        raw_path = args.cache_dir / f"results-{section}.json"
        progress: dict[str, Any] = {"saved": time.perf_counter(), "done": [], "total": 0}

        def save(done: list[RunResult], total: int, final: bool = False) -> None:
            """The raw results so far, rewritten at most every 30 s while running and when the run stops: a run
            stopped after hours keeps what it finished, and ``--from-json`` reports it (its command says how far
            it got; the runs it lacks show as missing and make their means incomplete)."""
            now = time.perf_counter()
            progress.update(done=done, total=total)
            if not final and now - progress["saved"] < 30 and len(done) < total:
                return
            progress["saved"] = now
            env["load_end"] = _load()
            stopped = "" if len(done) == total else f" (stopped after {len(done)} of {total} runs)"
            raw = {
                "section": section,
                "problems": list(problems),
                "optimizers": list(optimizers),
                "seeds": seeds,
                "budget": budgets[0],
                "budgets": budgets,
                "skipped": skipped,
                "results": [r.to_dict() for r in done],
                "command": command + stopped,
                "elapsed": now - start,
                "env": env,
                "date": date,
                "jobs": jobs,
            }
            raw_path.write_text(json.dumps(raw))

        try:
            results = run_all(runnable, optimizers, seeds, budgets, jobs=jobs, log=sys.stderr, on_result=save)
        except BaseException:  # Ctrl-C or a crash: keep what finished
            if progress["done"]:
                save(progress["done"], progress["total"], final=True)
                print(f"stopped; the finished runs are in {raw_path}", file=sys.stderr)
            raise
        save(results, len(results), final=True)
        elapsed = time.perf_counter() - start

    by_budget = {b: summarise(results, pools, b, optimizers) for b in budgets}
    titles = {
        "quick": "Quick run (`make bench-quick`)",
        "full": "Full run (`make bench`): budget sweep",
    }
    title = titles.get(section, f"Run `{section}`")
    kwargs: dict[str, Any] = {
        "command": command,
        "seeds": seeds,
        "elapsed": elapsed,
        "env": env,
        "date": date,
        "jobs": jobs,
    }
    if len(budgets) == 1:
        text = render(by_budget[budgets[0]], optimizers, skipped, title=title, **kwargs)
    else:
        png = args.out.parent / f"budget-sweep-{section}.png"
        plotted = plot_sweep(by_budget, optimizers, png)
        head = render(by_budget[budgets[0]], optimizers, skipped, title=title, **kwargs).split("\nNormalized")[0]
        head = head.replace(f"budget {budgets[0]} evaluations", f"budgets {', '.join(map(str, budgets))}")
        parts = [head.rstrip(), "", *render_sweep(by_budget, optimizers, png.name if plotted else None)]
        for b in budgets:
            parts.append(render(by_budget[b], optimizers, skipped, title=f"Budget {b}", header=False, **kwargs))
        text = "\n".join(parts)
    write_section(args.out, f"bench:{section}", text)
    print(text)
    print(f"written to {args.out} (section {section})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
