"""Quick evaluator for tuning the ``bayes`` strategy: normalised regret against its peers, and its overhead.

Normalised regret of a run = (best found - optimum) / (expected best of random search at the same budget - optimum):
0 is the optimum, 1 is as good as random search. The expected best of random search comes from the order statistics
of a fixed random sample of each problem (thousands of points for the synthetic functions, a few hundred for the
sklearn ones); for sklearn problems the "optimum" is the best value any run or sample ever reached.

Peers: hpmagic's random search, scikit-optimize's ``gp_minimize`` with its defaults (always installed), and, when
importable, Optuna's TPE and GP samplers and Hyperopt's TPE. They are not dependencies of hpmagic; install them in a
separate environment::

    python3 -m venv .venv-bayes && .venv-bayes/bin/pip install -e . optuna hyperopt torch

Examples (results are cached in a JSON file, so peers run once; ``--also`` reads more caches, e.g. to run the peers
in one process and variants of bayes in another)::

    OMP_NUM_THREADS=1 .venv-bayes/bin/python benchmarks/bayes_tuning.py --seeds 10 \
        --methods bayes random skopt_gp optuna_tpe optuna_gp hyperopt_tpe
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bayes_tuning.py --methods 'bayes:{"n_initial_points": 5}'
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bayes_tuning.py --methods 'bayes@XI=0.0,LOCAL_FRACTION=0.0'
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bayes_tuning.py --overhead 200

Results on this machine (40 evaluations, mean over 10 seeds; the means over seeds 0-4: bayes 0.276, skopt_gp 0.315,
optuna_gp 0.325, optuna_tpe 0.444, hyperopt_tpe 0.834, random 0.937). The svm and tree columns depend a little on
which caches are read, as their optimum is the best value any of them holds::

    method         branin   hart6 ackley5  rosen4   levy5   styb5   mixed     svm    tree    mean
    bayes           0.002   0.056   0.519   0.019   0.404   0.543   0.001   0.404   0.592   0.282
    optuna_gp       0.000   0.046   0.459   0.132   0.261   0.783   0.000   0.435   0.678   0.311
    skopt_gp        0.001   0.199   0.683   0.143   0.367   0.478   0.028   0.435   0.613   0.328
    optuna_tpe      0.197   0.272   0.684   0.125   0.386   0.866   0.193   0.622   0.577   0.436
    hyperopt_tpe    1.012   0.850   0.924   0.360   0.779   0.903   0.519   0.777   0.840   0.774
    random          1.011   1.123   1.004   1.071   0.857   0.924   1.179   0.839   1.023   1.003

Overhead of bayes (ask + tell, no objective): 0.03 s/trial at trials 41-50, 0.04 at 91-100, 0.08-0.09 at 191-200.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hpmagic
from hpmagic.space import Categorical, Dimension, Float, Int, Space
from hpmagic.strategies import BayesSampler
from hpmagic.trial import Trial, TrialState

Params = dict[str, Any]


@dataclass
class Problem:
    name: str
    space: dict[str, Dimension]
    fn: Callable[[Params], float]
    optimum: float | None  # None: unknown (taken as the best value ever seen)
    samples: int = 4000  # random points for the expected best of random search


# -- synthetic problems ---------------------------------------------------------------------------------------------


def _vec(p: Params, d: int) -> np.ndarray:
    return np.array([p[f"x{i}"] for i in range(d)], dtype=float)


def _box(d: int, low: float, high: float) -> dict[str, Dimension]:
    return {f"x{i}": Float(low, high) for i in range(d)}


def branin(p: Params) -> float:
    x1, x2 = p["x0"], p["x1"]
    return (
        (x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
        + 10
    )


_H6_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: Params) -> float:
    x = _vec(p, 6)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(p: Params) -> float:
    x = _vec(p, 5)
    d = len(x)
    return float(
        -20 * math.exp(-0.2 * math.sqrt(np.sum(x**2) / d)) - math.exp(np.sum(np.cos(2 * math.pi * x)) / d) + 20 + math.e
    )


def rosenbrock(p: Params) -> float:
    x = _vec(p, 4)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def levy(p: Params) -> float:
    x = _vec(p, 5)
    w = 1 + (x - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + mid + tail)


def styblinski_tang(p: Params) -> float:
    x = _vec(p, 5)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


_MIXED_OFFSET = {"adam": 0.0, "sgd": 0.6, "rmsprop": 0.3}


def mixed(p: Params) -> float:
    """A log learning rate, an int, a float and a categorical that changes the curvature; optimum 0."""
    lr, n, x, kind = p["lr"], p["n"], p["x"], p["kind"]
    curvature = 2.0 if kind == "sgd" else 1.0
    return (
        (math.log10(lr) + 2.7) ** 2
        + curvature * (x - 1.1) ** 2
        + 0.004 * (n - 17) ** 2
        + 0.3 * abs(math.log10(lr) + 2.7) * abs(x - 1.1)
        + _MIXED_OFFSET[kind]
    )


def synthetic_problems() -> list[Problem]:
    return [
        Problem("branin", {"x0": Float(-5.0, 10.0), "x1": Float(0.0, 15.0)}, branin, 0.397887357729739),
        Problem("hartmann6", _box(6, 0.0, 1.0), hartmann6, -3.32236801141551),
        Problem("ackley5", _box(5, -32.768, 32.768), ackley, 0.0),
        Problem("rosenbrock4", _box(4, -5.0, 10.0), rosenbrock, 0.0),
        Problem("levy5", _box(5, -10.0, 10.0), levy, 0.0),
        Problem("styblinski5", _box(5, -5.0, 5.0), styblinski_tang, -39.16616570377142 * 5),
        Problem(
            "mixed",
            {
                "lr": Float(1e-6, 1.0, log=True),
                "n": Int(1, 64),
                "x": Float(-3.0, 3.0),
                "kind": Categorical(["sgd", "adam", "rmsprop"]),
            },
            mixed,
            0.0,
        ),
    ]


# -- sklearn problems -----------------------------------------------------------------------------------------------


def _cached(fn: Callable[[Params], float]) -> Callable[[Params], float]:
    memo: dict[tuple[Any, ...], float] = {}

    def wrapper(p: Params) -> float:
        key = tuple(sorted(p.items()))
        if key not in memo:
            memo[key] = fn(p)
        return memo[key]

    return wrapper


def sklearn_problems() -> list[Problem]:
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    X_bc, y_bc = load_breast_cancer(return_X_y=True)
    X_dg, y_dg = load_digits(return_X_y=True)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)

    def svm(p: Params) -> float:
        model = make_pipeline(StandardScaler(), SVC(C=p["C"], gamma=p["gamma"]))
        return 1.0 - float(cross_val_score(model, X_bc, y_bc, cv=cv).mean())

    def tree(p: Params) -> float:
        model = DecisionTreeClassifier(
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            criterion=p["criterion"],
            random_state=0,
        )
        return 1.0 - float(cross_val_score(model, X_dg, y_dg, cv=cv).mean())

    return [
        Problem(
            "svm",
            {"C": Float(1e-3, 1e3, log=True), "gamma": Float(1e-5, 1e1, log=True)},
            _cached(svm),
            None,
            samples=400,
        ),
        Problem(
            "tree",
            {
                "max_depth": Int(1, 30),
                "min_samples_leaf": Int(1, 64, log=True),
                "max_features": Float(0.05, 1.0),
                "criterion": Categorical(["gini", "entropy"]),
            },
            _cached(tree),
            None,
            samples=400,
        ),
    ]


# -- methods --------------------------------------------------------------------------------------------------------


def run_hpmagic(problem: Problem, n: int, seed: int, strategy: Any) -> list[float]:
    study = hpmagic.optimize(problem.fn, problem.space, strategy=strategy, n_trials=n, seed=seed, max_failures=None)
    return [float(t.value) for t in study.trials if t.value is not None]


def run_skopt(problem: Problem, n: int, seed: int) -> list[float]:
    from skopt import gp_minimize
    from skopt.space import Categorical as SkCat
    from skopt.space import Integer, Real

    names = list(problem.space)
    dims = []
    for name in names:
        d = problem.space[name]
        if isinstance(d, Float):
            dims.append(Real(d.low, d.high, prior="log-uniform" if d.log else "uniform"))
        elif isinstance(d, Int):
            dims.append(Integer(d.low, d.high, prior="log-uniform" if d.log else "uniform"))
        else:
            assert isinstance(d, Categorical)
            dims.append(SkCat(list(d.choices)))
    values: list[float] = []

    def f(x: list[Any]) -> float:
        p = {}
        for name, v in zip(names, x, strict=True):
            d = problem.space[name]
            p[name] = int(v) if isinstance(d, Int) else float(v) if isinstance(d, Float) else v
        y = problem.fn(p)
        values.append(y)
        return y

    gp_minimize(f, dims, n_calls=n, random_state=seed)
    return values


def run_optuna(problem: Problem, n: int, seed: int, kind: str) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.GPSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)

    def objective(trial: Any) -> float:
        p = {}
        for name, d in problem.space.items():
            if isinstance(d, Float):
                p[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
            elif isinstance(d, Int):
                p[name] = trial.suggest_int(name, d.low, d.high, log=d.log)
            else:
                assert isinstance(d, Categorical)
                p[name] = trial.suggest_categorical(name, list(d.choices))
        return problem.fn(p)

    study.optimize(objective, n_trials=n)
    return [float(t.value) for t in study.trials]


def run_hyperopt(problem: Problem, n: int, seed: int) -> list[float]:
    from hyperopt import Trials, fmin, hp, tpe

    space = {}
    for name, d in problem.space.items():
        if isinstance(d, Float):
            space[name] = (
                hp.loguniform(name, math.log(d.low), math.log(d.high)) if d.log else hp.uniform(name, d.low, d.high)
            )
        elif isinstance(d, Int):
            space[name] = (
                hp.qloguniform(name, math.log(d.low), math.log(d.high + 0.5), 1)
                if d.log
                else hp.quniform(name, d.low - 0.5, d.high + 0.5, 1)
            )
        else:
            assert isinstance(d, Categorical)
            space[name] = hp.choice(name, list(d.choices))
    values: list[float] = []

    def objective(p: Params) -> float:
        q = dict(p)
        for name, d in problem.space.items():
            if isinstance(d, Int):
                q[name] = int(min(max(round(q[name]), d.low), d.high))
            elif isinstance(d, Float):
                q[name] = float(min(max(q[name], d.low), d.high))
        y = problem.fn(q)
        values.append(y)
        return y

    fmin(objective, space, algo=tpe.suggest, max_evals=n, trials=Trials(), rstate=np.random.default_rng(seed),
         show_progressbar=False)  # fmt: skip
    return values


def run_method(method: str, problem: Problem, n: int, seed: int) -> list[float]:
    if method == "random":
        return run_hpmagic(problem, n, seed, "random")
    if method.startswith("bayes"):
        # bayes[@KNOB=value,...][:{json options}]: knobs are module attributes of hpmagic.samplers._gp, for trying
        # variants of the internals without editing the code.
        from benchmarks.optimizers import bayes_knobs

        head, _, options = method.partition(":")
        with bayes_knobs(head.partition("@")[2]):
            return run_hpmagic(problem, n, seed, BayesSampler(**json.loads(options or "{}")))
    if method == "skopt_gp":
        return run_skopt(problem, n, seed)
    if method in ("optuna_tpe", "optuna_gp"):
        return run_optuna(problem, n, seed, method.partition("_")[2])
    if method == "hyperopt_tpe":
        return run_hyperopt(problem, n, seed)
    raise SystemExit(f"unknown method {method!r}")


# -- evaluation -----------------------------------------------------------------------------------------------------


def random_sample(problem: Problem) -> list[float]:
    rng = np.random.default_rng(12345)
    space = Space(problem.space)
    return [problem.fn(space.sample(rng)) for _ in range(problem.samples)]


def expected_min(sample: list[float], n: int) -> float:
    """E[min of n draws with replacement from the sample]: P(min >= v_(i)) = ((N - i + 1) / N) ** n."""
    v = np.sort(np.asarray(sample))
    big_n = len(v)
    survive = ((big_n - np.arange(big_n)) / big_n) ** n
    p = survive - np.append(survive[1:], 0.0)
    return float(np.sum(p * v))


def load_cache(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["bayes", "random", "skopt_gp"])
    parser.add_argument("--problems", nargs="+", default=None, help="problem names (default: all)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "bayes_tuning.json")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more caches to read (e.g. the peers')")
    parser.add_argument("--fresh", action="store_true", help="rerun the listed methods even if cached")
    parser.add_argument("--no-sklearn", action="store_true")
    parser.add_argument("--overhead", type=int, default=0, help="measure bayes ask+tell time over this many trials")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("hyperopt").setLevel(logging.WARNING)

    if args.overhead:
        overhead(args.overhead)
        return

    problems = synthetic_problems() + ([] if args.no_sklearn else sklearn_problems())
    if args.problems:
        problems = [p for p in problems if p.name in args.problems]
    cache = load_cache(args.cache)
    merged: dict[str, Any] = {}
    for path in args.also:  # read only: runs found there are not repeated
        merged.update(load_cache(path))
    n = args.trials
    for problem in problems:
        key = f"sample|{problem.name}|{problem.samples}"
        if key not in cache and key not in merged:
            cache[key] = random_sample(problem)
            args.cache.write_text(json.dumps(cache))
        for method in args.methods:
            for seed in range(args.seeds):
                key = f"{method}|{problem.name}|{seed}|{n}"
                if (key in cache or key in merged) and not args.fresh:
                    continue
                start = time.perf_counter()
                try:
                    values = run_method(method, problem, n, seed)
                except ImportError as exc:
                    print(f"skipping {method}: {exc}", file=sys.stderr)
                    break
                cache[key] = values
                cache[f"time|{key}"] = time.perf_counter() - start
                args.cache.write_text(json.dumps(cache))
    report({**merged, **cache}, problems, args.methods, args.seeds, n)


def report(cache: dict[str, Any], problems: list[Problem], methods: list[str], seeds: int, n: int) -> None:
    rows: dict[str, dict[str, float]] = {m: {} for m in methods}
    times: dict[str, list[float]] = {m: [] for m in methods}
    for problem in problems:
        sample = cache[f"sample|{problem.name}|{problem.samples}"]
        optimum = problem.optimum
        if optimum is None:  # the best value any run (any method, any budget) or the sample ever reached
            seen = [min(v) for k, v in cache.items() if k.split("|")[1:2] == [problem.name] and isinstance(v, list)]
            optimum = min(seen)
        scale = expected_min(sample, n) - optimum
        for method in methods:
            regrets = []
            for seed in range(seeds):
                values = cache.get(f"{method}|{problem.name}|{seed}|{n}")
                if values:
                    regrets.append((min(values[:n]) - optimum) / scale)
                    times[method].append(cache.get(f"time|{method}|{problem.name}|{seed}|{n}", math.nan))
            if len(regrets) == seeds:
                rows[method][problem.name] = float(np.mean(regrets))
    names = [p.name for p in problems]
    width = max(12, *(len(m) for m in methods))
    print(f"normalised regret at {n} evaluations, mean over {seeds} seeds (0 = optimum, 1 = random search)")
    print(f"{'method':<{width}} " + " ".join(f"{p[:11]:>11}" for p in names) + f" {'mean':>7} {'s/run':>6}")
    for method in methods:
        cells = [rows[method].get(p) for p in names]
        shown = " ".join(f"{c:>11.3f}" if c is not None else f"{'-':>11}" for c in cells)
        done = [c for c in cells if c is not None]
        mean = f"{np.mean(done):>7.3f}" if len(done) == len(cells) else f"{'-':>7}"
        t = f"{np.nanmean(times[method]):>6.1f}" if times[method] else ""
        print(f"{method:<{width}} {shown} {mean} {t}")


def overhead(n: int) -> None:
    """ask + tell time per trial (no objective cost, no storage) of bayes over ``n`` trials of Hartmann6 + mixed."""
    for problem in (synthetic_problems()[1], synthetic_problems()[-1]):
        strategy = BayesSampler()
        space = Space(problem.space)
        strategy.setup(space, direction="minimize", seed=0, n_trials=n)
        times = []
        for i in range(n):
            start = time.perf_counter()
            params = strategy.ask(i)
            elapsed = time.perf_counter() - start
            trial = Trial(
                number=i, params=params, state=TrialState.COMPLETE, value=problem.fn(params), finished_at=time.time()
            )
            start = time.perf_counter()
            strategy.tell(trial)
            times.append(elapsed + time.perf_counter() - start)
        t = np.array(times)
        windows = [(a, b) for a, b in ((40, 50), (90, 100), (190, 200)) if b <= n]
        shown = ", ".join(f"trials {a + 1}-{b}: {t[a:b].mean():.3f}" for a, b in windows)
        print(
            f"{problem.name}: mean {t.mean():.3f} s/trial over {n} trials; {shown}; max {t.max():.3f}; "
            f"hyperparameter fits {strategy.n_hyper_fits}"
        )


if __name__ == "__main__":
    main()
