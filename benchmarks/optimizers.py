"""One interface over hpmagic's strategies and the libraries people would use instead.

``run(optimizer_name, problem, n_trials, seed)`` minimises ``problem`` with ``n_trials`` evaluations and returns a
``RunResult``: every evaluation's value and the time spent inside the objective, plus the wall time of the whole run,
so that ``(wall time - objective time) / trials`` is the optimizer's own overhead per trial.

Peers are optional: each is listed with the modules it needs, and ``availability`` says why one cannot run here.

hpmagic's strategies are read from ``hpmagic.strategies.STRATEGIES`` when the harness runs, so a strategy added to
the registry is benchmarked without touching this file, unless it needs intermediate reports (multi-fidelity
schedulers), which plain ``f(params) -> float`` objectives cannot give.

A variant of bayes's internals runs as ``hpmagic-bayes@KNOB=value,KNOB=value``: the knobs are module constants of
``hpmagic.samplers._gp`` (values in JSON), set for that run only, so a change can be measured against saved peers'
results (``run.py --from-json``) before the code is edited.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.problems import Problem, sample_params
from hpmagic.space import Categorical, Dimension, Float, Int, Space

__all__ = [
    "OPTIMIZERS",
    "Optimizer",
    "RunResult",
    "availability",
    "available_optimizers",
    "bayes_knobs",
    "grid_points",
    "run",
    "warm_up",
]

#: hpmagic strategies that need ``tune.report`` (intermediate values, budgets): not comparable on plain objectives.
MULTI_FIDELITY = frozenset({"asha", "bohb", "hyperband", "median", "pbt", "sha", "successive_halving"})
_MULTI_FIDELITY_FLAGS = ("multi_fidelity", "needs_report", "requires_report", "needs_budget", "uses_budget")


@dataclass
class RunResult:
    """What one optimizer did on one problem with one seed.

    Attributes:
        evaluations: ``(value, seconds inside the objective)`` for each evaluation, in order.
        wall_time: seconds for the whole run: set-up, every ask and tell, and the evaluations.
        error: the exception's one-line message when the run failed (``evaluations`` then holds what ran).
    """

    optimizer: str
    problem: str
    seed: int
    n_trials: int
    evaluations: list[tuple[float, float]] = field(default_factory=list)
    wall_time: float = 0.0
    error: str | None = None

    @property
    def values(self) -> list[float]:
        return [v for v, _ in self.evaluations]

    @property
    def best(self) -> float:
        finite = [v for v in self.values if math.isfinite(v)]
        return min(finite) if finite else math.inf

    @property
    def objective_time(self) -> float:
        return sum(t for _, t in self.evaluations)

    @property
    def overhead_per_trial(self) -> float:
        """Seconds per evaluation spent outside the objective (the optimizer's and its library's own cost)."""
        n = len(self.evaluations)
        return (self.wall_time - self.objective_time) / n if n else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "problem": self.problem,
            "seed": self.seed,
            "n_trials": self.n_trials,
            "evaluations": self.evaluations,
            "wall_time": self.wall_time,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunResult:
        return cls(
            optimizer=d["optimizer"],
            problem=d["problem"],
            seed=d["seed"],
            n_trials=d["n_trials"],
            evaluations=[(float(v), float(t)) for v, t in d["evaluations"]],
            wall_time=d["wall_time"],
            error=d.get("error"),
        )


class _Timed:
    """The problem's objective, recording each value and the time it took."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.evaluations: list[tuple[float, float]] = []

    def __call__(self, params: Mapping[str, Any]) -> float:
        start = time.perf_counter()
        value = self.problem(params)
        self.evaluations.append((value, time.perf_counter() - start))
        return value


Runner = Callable[[Problem, int, int, _Timed], None]


@dataclass(frozen=True)
class Optimizer:
    """A benchmarked optimizer: its name in the report, the library it comes from, and how to run it."""

    name: str
    library: str
    description: str
    runner: Runner
    requires: tuple[str, ...] = ()
    check: Callable[[], str | None] | None = None


# -- parameter conversion ---------------------------------------------------------------------------------------


def _plain(dim: Dimension, value: Any) -> Any:
    """A library's value (numpy scalars, floats for integers) as the Python value hpmagic would pass."""
    if isinstance(dim, Categorical):
        for choice in dim.choices:
            if choice == value:
                return choice
        raise ValueError(f"{value!r} is not one of {dim.choices!r}")
    if isinstance(dim, Int):
        return int(min(max(round(float(value)), dim.low), dim.high))
    assert isinstance(dim, Float)
    return float(min(max(float(value), dim.low), dim.high))


def _plain_params(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _plain(dim, params[name]) for name, dim in space.items()}


# -- hpmagic ------------------------------------------------------------------------------------------------------


def grid_points(space: Mapping[str, Dimension], budget: int) -> int:
    """Grid points per float dimension: hpmagic's default 5, more when the grid would be smaller than the budget."""
    s = space if isinstance(space, Space) else Space(space)
    points = 5
    has_float = any(isinstance(d, Float) for d in s.values())
    while has_float and s.grid_size(points) < budget:
        points += 1
    return points


def _hpmagic_runner(strategy: str) -> Runner:
    def run_hpmagic(problem: Problem, n_trials: int, seed: int, fn: _Timed) -> None:
        import hpmagic

        options: dict[str, Any] | None = None
        if strategy == "grid":
            # What `%%tune --strategy grid --grid-sample` does when the grid is larger than the budget.
            options = {"points": grid_points(problem.space, n_trials), "sample": True}
        hpmagic.optimize(
            fn,
            dict(problem.space),
            strategy=strategy,
            n_trials=n_trials,
            seed=seed,
            direction="minimize",
            strategy_options=options,
        )

    return run_hpmagic


def hpmagic_strategies() -> dict[str, str | None]:
    """Every strategy in ``STRATEGIES`` mapped to None if it is benchmarked, else the reason it is not."""
    from hpmagic.strategies import STRATEGIES

    out: dict[str, str | None] = {}
    for name, cls in sorted(STRATEGIES.items()):
        if name in MULTI_FIDELITY or any(getattr(cls, flag, False) is True for flag in _MULTI_FIDELITY_FLAGS):
            out[name] = "multi-fidelity (needs a training budget and tune.report), not comparable on f(params)"
        else:
            out[name] = None
    return out


# -- plain random search ------------------------------------------------------------------------------------------


def _run_numpy_random(problem: Problem, n_trials: int, seed: int, fn: _Timed) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n_trials):
        fn(sample_params(problem.space, rng))


# -- Optuna -------------------------------------------------------------------------------------------------------


def _optuna_suggest(trial: Any, name: str, dim: Dimension) -> Any:
    if isinstance(dim, Float):
        return trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    if isinstance(dim, Int):
        return trial.suggest_int(name, dim.low, dim.high, log=dim.log)
    assert isinstance(dim, Categorical)
    return trial.suggest_categorical(name, list(dim.choices))


def _optuna_runner(sampler_name: str) -> Runner:
    def run_optuna(problem: Problem, n_trials: int, seed: int, fn: _Timed) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        sampler = getattr(optuna.samplers, sampler_name)(seed=seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)

        def objective(trial: Any) -> float:
            params = {name: _optuna_suggest(trial, name, dim) for name, dim in problem.space.items()}
            return fn(_plain_params(problem.space, params))

        study.optimize(objective, n_trials=n_trials, show_progress_bar=False)

    return run_optuna


def _check_gp_sampler() -> str | None:
    import optuna

    if not hasattr(optuna.samplers, "GPSampler"):
        return f"optuna {optuna.__version__} has no GPSampler"
    if importlib.util.find_spec("torch") is None:
        return "Optuna's GPSampler needs torch, which is not installed"
    return None


# -- scikit-optimize ----------------------------------------------------------------------------------------------


def _skopt_dimension(name: str, dim: Dimension) -> Any:
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer, Real

    if isinstance(dim, Float):
        return Real(dim.low, dim.high, prior="log-uniform" if dim.log else "uniform", name=name)
    if isinstance(dim, Int):
        return Integer(dim.low, dim.high, prior="log-uniform" if dim.log else "uniform", name=name)
    assert isinstance(dim, Categorical)
    return SkCategorical(list(dim.choices), name=name)


def _run_skopt_gp(problem: Problem, n_trials: int, seed: int, fn: _Timed) -> None:
    from skopt import gp_minimize

    names = list(problem.space)
    dimensions = [_skopt_dimension(n, problem.space[n]) for n in names]

    def objective(x: list[Any]) -> float:
        return fn(_plain_params(problem.space, dict(zip(names, x, strict=True))))

    # skopt's defaults, as a user calling gp_minimize would get them (10 initial points, gp_hedge, ...), except
    # that a budget under 10 calls is all initial points (skopt refuses n_calls < n_initial_points).
    gp_minimize(objective, dimensions, n_calls=n_trials, n_initial_points=min(10, n_trials), random_state=seed)


# -- Hyperopt -----------------------------------------------------------------------------------------------------


def _hyperopt_dimension(name: str, dim: Dimension) -> Any:
    from hyperopt import hp
    from hyperopt.pyll import scope

    if isinstance(dim, Float):
        if dim.log:
            return hp.loguniform(name, math.log(dim.low), math.log(dim.high))
        return hp.uniform(name, dim.low, dim.high)
    if isinstance(dim, Int):
        if dim.log:
            return scope.int(hp.qloguniform(name, math.log(dim.low), math.log(dim.high), 1))
        return hp.uniformint(name, dim.low, dim.high)
    assert isinstance(dim, Categorical)
    return hp.choice(name, list(dim.choices))


def _run_hyperopt_tpe(problem: Problem, n_trials: int, seed: int, fn: _Timed) -> None:
    from hyperopt import Trials, fmin, tpe

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    space = {name: _hyperopt_dimension(name, dim) for name, dim in problem.space.items()}
    fmin(
        lambda params: fn(_plain_params(problem.space, params)),
        space,
        algo=tpe.suggest,
        max_evals=n_trials,
        trials=Trials(),
        rstate=np.random.default_rng(seed),
        verbose=False,
        show_progressbar=False,
    )


# -- the registry -------------------------------------------------------------------------------------------------

_PEERS: list[Optimizer] = [
    Optimizer(
        "optuna-tpe",
        "optuna",
        "Optuna's default sampler, TPESampler(seed=seed)",
        _optuna_runner("TPESampler"),
        ("optuna",),
    ),
    Optimizer(
        "optuna-gp",
        "optuna",
        "Optuna's GPSampler(seed=seed) (needs torch)",
        _optuna_runner("GPSampler"),
        ("optuna",),
        _check_gp_sampler,
    ),
    Optimizer(
        "skopt-gp",
        "scikit-optimize",
        "scikit-optimize's gp_minimize with its defaults (n_calls=budget, random_state=seed)",
        _run_skopt_gp,
        ("skopt",),
    ),
    Optimizer(
        "hyperopt-tpe",
        "hyperopt",
        "Hyperopt's fmin with tpe.suggest, rstate=default_rng(seed)",
        _run_hyperopt_tpe,
        ("hyperopt",),
    ),
    Optimizer(
        "numpy-random",
        "numpy",
        "plain random search written with numpy (the baseline of the normalized regret)",
        _run_numpy_random,
    ),
]


def _build_registry() -> dict[str, Optimizer]:
    registry: dict[str, Optimizer] = {}
    for strategy, skipped in hpmagic_strategies().items():
        if skipped is None:
            desc = f"hpmagic strategy {strategy!r}"
            if strategy == "grid":
                desc += " with sample=True (--grid-sample), 5 or more points per float so the grid exceeds the budget"
            registry[f"hpmagic-{strategy}"] = Optimizer(
                f"hpmagic-{strategy}", "hpmagic", desc, _hpmagic_runner(strategy)
            )
    for peer in _PEERS:
        registry[peer.name] = peer
    return registry


#: Every optimizer the harness knows, hpmagic's first, whether or not its library is installed.
OPTIMIZERS: dict[str, Optimizer] = _build_registry()


def availability(name: str) -> str | None:
    """None if optimizer ``name`` (or a ``hpmagic-bayes@KNOB=value`` variant) can run here, else why not."""
    name, _, knobs = name.partition("@")
    if knobs:
        if name != "hpmagic-bayes":
            return f"only hpmagic-bayes takes @KNOB=value variants, not {name!r}"
        try:
            with bayes_knobs(knobs):
                pass
        except ValueError as exc:
            return str(exc)
    opt = OPTIMIZERS.get(name)
    if opt is None:
        return f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}"
    for module in opt.requires:
        if importlib.util.find_spec(module) is None:
            return f"{opt.library} is not installed (pip install -r benchmarks/requirements.txt)"
    if opt.check is not None:
        try:
            return opt.check()
        except Exception as exc:  # noqa: BLE001 - any import-time failure means "cannot run here"
            return f"{type(exc).__name__}: {exc}"
    return None


def available_optimizers() -> tuple[list[str], dict[str, str]]:
    """The optimizers that can run here, and the others with the reason."""
    ok: list[str] = []
    skipped: dict[str, str] = {}
    for name in OPTIMIZERS:
        reason = availability(name)
        if reason is None:
            ok.append(name)
        else:
            skipped[name] = reason
    return ok, skipped


def library_version(module: str) -> str | None:
    """The installed version of a distribution (by import or distribution name), or None."""
    from importlib import metadata

    for dist in (module, {"skopt": "scikit-optimize", "sklearn": "scikit-learn"}.get(module, module)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


_warmed: set[str] = set()


def warm_up(optimizer_name: str) -> None:
    """Run an optimizer once, untimed, on a small problem: imports, caches and compilation are then not counted
    as the per-trial overhead of the first timed run (12 trials, so model-based optimizers fit their model once)."""
    if optimizer_name in _warmed:
        return
    _warmed.add(optimizer_name)
    from benchmarks.problems import PROBLEMS

    opt = OPTIMIZERS[optimizer_name]
    for module in opt.requires:
        importlib.import_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            opt.runner(PROBLEMS["mixed"], 12, 0, _Timed(PROBLEMS["mixed"]))
        except Exception:  # noqa: BLE001 - the timed run reports the error
            pass


@contextlib.contextmanager
def bayes_knobs(spec: str) -> Iterator[None]:
    """Set ``hpmagic.samplers._gp``'s knobs from ``"KNOB=value,KNOB=value"`` (JSON values) while the block runs."""
    from hpmagic.samplers import _gp

    knobs = [name for name in vars(_gp) if name.isupper() and not name.startswith("_")]
    saved: dict[str, Any] = {}
    try:
        for item in filter(None, spec.split(",")):
            knob, sep, text = item.partition("=")
            if not sep or knob not in knobs:
                raise ValueError(f"unknown bayes knob in {item!r}; hpmagic.samplers._gp has: {', '.join(knobs)}")
            current = getattr(_gp, knob)
            try:
                value = type(current)(json.loads(text))
            except (ValueError, TypeError):
                raise ValueError(f"bayes knob {knob}: {text!r} is not a {type(current).__name__}") from None
            saved.setdefault(knob, current)
            setattr(_gp, knob, value)
        yield
    finally:
        for knob, value in saved.items():
            setattr(_gp, knob, value)


def run(optimizer_name: str, problem: Problem, n_trials: int, seed: int, *, warm: bool = True) -> RunResult:
    """Minimise ``problem`` with ``n_trials`` evaluations of optimizer ``optimizer_name`` and seed ``seed``.

    A failing optimizer does not raise: the result carries the error and the evaluations made before it. With
    ``warm`` (the default) the optimizer is first run once untimed in this process (``warm_up``).
    """
    reason = availability(optimizer_name)
    if reason is not None:
        raise RuntimeError(f"{optimizer_name} cannot run here: {reason}")
    base, _, knobs = optimizer_name.partition("@")
    opt = OPTIMIZERS[base]
    if warm:
        warm_up(base)
    fn = _Timed(problem)
    result = RunResult(optimizer_name, problem.name, seed, n_trials)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), bayes_knobs(knobs):
            warnings.simplefilter("ignore")
            opt.runner(problem, n_trials, seed, fn)
    except Exception as exc:  # noqa: BLE001 - reported in the results, the benchmark goes on
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    result.wall_time = time.perf_counter() - start
    result.evaluations = fn.evaluations
    return result
