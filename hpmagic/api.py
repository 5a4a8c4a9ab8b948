"""The plain Python API: ``hpmagic.optimize`` over the same engine as the magic."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hpmagic.context import TrialContext
from hpmagic.errors import OptionError, SpaceError
from hpmagic.events import Event
from hpmagic.execution import make_executor
from hpmagic.markers import tune
from hpmagic.run import build_run
from hpmagic.samplers import Sampler
from hpmagic.schedulers import Scheduler
from hpmagic.space import Dimension, Space
from hpmagic.storage import Storage
from hpmagic.study import Study, check_budget, check_reporters

__all__ = ["optimize"]


class FunctionObjective:
    """Wraps ``fn(params) -> float``: the trial's parameters are passed as one dict."""

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.fn = fn

    def __call__(self, ctx: TrialContext) -> Any:
        return self.fn(ctx.use_all())


def optimize(
    fn: Callable[[dict[str, Any]], Any],
    space: Mapping[str, Dimension] | Space,
    strategy: str | Sampler | Scheduler = "bayes",
    n_trials: int | None = 20,
    seed: int | None = None,
    direction: str = "minimize",
    storage: str | os.PathLike[str] | Storage | None = None,
    name: str | None = None,
    *,
    timeout: float | None = None,
    resume: bool = False,
    max_failures: int | None = 5,
    threads: int | None = 1,
    reporters: Iterable[Callable[[Event], None]] = (),
    strategy_options: Mapping[str, Any] | None = None,
    budget: tuple[int, int] | None = None,
    prune: str | None = None,
    repeats: int = 1,
    refine: bool = False,
    scheduler: str | None = None,
    n_jobs: int | None = None,
    client: Any = None,
    resources: Mapping[str, float] | None = None,
    trial_timeout: float | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    start_from_defaults: bool = False,
    warm_from: str | None = None,
    constraints: Sequence[str | Callable[[dict[str, Any]], Any]] = (),
    directions: Sequence[str] | Mapping[str, str] | None = None,
    primary: str | int | None = None,
) -> Study:
    """Minimise (or maximise) ``fn`` over ``space`` and return the Study.

    Args:
        fn: takes a dict of parameter values, returns a real number. Exceptions and non-finite values fail the
            trial (kept with its traceback) and the study goes on.
        space: parameter names mapped to markers, e.g. ``{"x": tune.uniform(-5, 5), "n": tune.int(1, 9)}``.
        strategy: a sampler's name (``"grid"``, ``"random"``, ``"bayes"``, ``"evolution"``, ``"gradient"``), a
            shorthand for random search under a scheduler (``"hyperband"``, ``"asha"``, ``"pbt"``), or a ready
            ``Sampler`` or ``Scheduler`` instance (``hpmagic.strategies``).
        n_trials: total finished trials the study should have (None: until the timeout or the grid's end).
        seed: makes the sequence of configurations reproducible.
        direction: ``"minimize"`` or ``"maximize"``.
        storage: an SQLite file path, ``":memory:"``, a Storage, or None (in memory).
        name: the study's name (an existing name gets a suffix unless ``resume``).
        timeout: seconds for this call.
        resume: continue the latest study called ``name`` in ``storage``.
        max_failures: stop after this many failed trials in a row.
        threads: BLAS/OpenMP threads while ``fn`` runs (None: no limit).
        reporters: callables receiving the loop's events (e.g. ``hpmagic.display.TextReporter()``): one, or a list.
        strategy_options: options of the named sampler and scheduler (e.g. ``{"points": 7}`` for grid,
            ``{"eta": 2}`` for hyperband); ``hpmagic.strategies.strategy_help()`` lists them all.
        budget: the resource range ``(min, max)`` that ``tune.steps()`` counts in; hyperband, asha and pbt need it.
        prune: ``"median"`` stops trials whose ``tune.report`` values fall below the median of earlier trials.
        repeats: run each configuration this many times (``tune.seed`` 0, 1, ...) and use the mean.
        refine: continue the study called ``name`` in ranges narrowed around its best trials (coarse to fine).
        scheduler: ``"hyperband"``, ``"asha"``, ``"median"`` or ``"pbt"``: decides budgets and early stops while the
            strategy proposes configurations (``strategy="bayes", scheduler="hyperband"`` is BOHB).
        n_jobs: run this many trials at once in worker processes of a local Dask cluster (started once per process
            and reused); None or 1 runs them one after another here. With ``client``, the most trials at once
            (default: the cluster's worker threads).
        client: a ``dask.distributed.Client`` of a running cluster to send trials to.
        resources: Dask worker resources every trial claims, e.g. ``{"GPU": 1}``.
        trial_timeout: seconds after which a running trial is interrupted and failed (``timeout`` interrupts the
            running trial too, so the call returns on time even if ``fn`` never does).
        enqueue: configurations to run first, e.g. ``[{"lr": 0.01}]`` or one dict (then the strategy goes on,
            learning from them); those given to ``tune.enqueue`` before the call run after these. A missing parameter
            takes its ``default=``, else a random value; a value outside the space is an OptionError before any trial.
        start_from_defaults: the first trial uses every marker's ``default=``.
        warm_from: the name of another study in ``storage`` (``"NAME@path.db"``: in that file) whose trials the
            strategy learns from, where the spaces overlap; they are not counted or stored as this study's trials.
        constraints: conditions a trial must meet to count as the best: comparisons such as ``"latency <= 10"``
            over the trial's parameters, ``value`` (what ``fn`` returned) and, when ``fn`` returns a dict, its keys;
            or callables taking that same dict and returning a margin (``<= 0``: satisfied, else by how much it is
            missed). Each trial keeps its ``violations``; the best trial is the best feasible one, and bayes and
            evolution learn to avoid infeasible regions. Text that is not a comparison is an OptionError at once.
        directions: several objectives: ``fn`` returns a tuple (or list) of numbers and ``directions`` gives each
            one's direction by position (``["maximize", "minimize"]``; the objectives are named ``objective 0``,
            ...), or ``fn`` returns a dict and ``directions`` maps its keys to directions
            (``{"accuracy": "maximize", "latency": "minimize"}``). ``study.best_trials`` is then the Pareto set;
            a result of another shape fails that trial and the study goes on.
        primary: the objective (name or position) that ``Trial.value``, schedulers and ``tune.report`` speak of;
            default the first.
    """
    if not callable(fn):
        raise OptionError(f"fn must be callable (a function of a dict of parameters), got {fn!r}")
    if not isinstance(space, Mapping):
        raise SpaceError(f"space must map parameter names to tune.* markers, got {type(space).__name__}")
    space = space if isinstance(space, Space) else Space(space)
    check_budget(n_trials, timeout, max_failures, threads)  # before a study is written
    reporters = check_reporters(reporters)
    if enqueue is None or isinstance(enqueue, Mapping):
        enqueue = [] if enqueue is None else [enqueue]  # one configuration, as --enqueue takes it
    elif isinstance(enqueue, str) or not isinstance(enqueue, Sequence):
        raise OptionError(f"enqueue takes a dict of parameter values or a list of them, got {enqueue!r:.60}")
    executor = make_executor(
        jobs=n_jobs,
        client=client,
        resources=dict(resources) if isinstance(resources, Mapping) else resources,
    )
    run = build_run(
        space=space,
        strategy=strategy,
        scheduler=scheduler,
        options=strategy_options,
        n_trials=n_trials,
        budget=budget,
        prune=prune,
        refine=refine,
        resume=resume,
        storage=storage,
        name=name,
        direction=direction,
        seed=seed,
        timeout=timeout,
        enqueue=[*enqueue, *tune.pending()],
        start_from_defaults=start_from_defaults,
        warm_from=warm_from,
        constraints=constraints,
        directions=directions,
        primary=primary,
    )
    tune.pending(clear=True)
    run.study.optimize(
        FunctionObjective(fn),
        run.search,
        n_trials=run.n_trials,
        timeout=timeout,
        max_failures=max_failures,
        reporters=reporters,
        threads=threads,
        catch_interrupt=False,
        budget=run.budget,
        repeats=repeats,
        search_space=run.search_space,
        executor=executor,
        trial_timeout=trial_timeout,
    )
    return run.study
