"""The plain Python API: ``hpmagic.optimize`` over the same engine as the magic."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hpmagic.context import TrialContext
from hpmagic.errors import OptionError, SpaceError
from hpmagic.events import Event
from hpmagic.refine import refine_space
from hpmagic.space import Dimension, Space
from hpmagic.storage import Storage
from hpmagic.strategies import MedianStopping, Strategy, get_strategy
from hpmagic.study import Study, check_budget, check_resource, create_study

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
    strategy: str | Strategy = "bayes",
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
) -> Study:
    """Minimise (or maximise) ``fn`` over ``space`` and return the Study.

    Args:
        fn: takes a dict of parameter values, returns a real number. Exceptions and non-finite values fail the
            trial (kept with its traceback) and the study goes on.
        space: parameter names mapped to markers, e.g. ``{"x": tune.uniform(-5, 5), "n": tune.int(1, 9)}``.
        strategy: ``"grid"``, ``"random"``, ``"bayes"``, or a Strategy instance.
        n_trials: total finished trials the study should have (None: until the timeout or the grid's end).
        seed: makes the sequence of configurations reproducible.
        direction: ``"minimize"`` or ``"maximize"``.
        storage: an SQLite file path, ``":memory:"``, a Storage, or None (in memory).
        name: the study's name (an existing name gets a suffix unless ``resume``).
        timeout: seconds for this call.
        resume: continue the latest study called ``name`` in ``storage``.
        max_failures: stop after this many failed trials in a row.
        threads: BLAS/OpenMP threads while ``fn`` runs (None: no limit).
        reporters: callables receiving the loop's events (e.g. ``hpmagic.display.TextReporter()``).
        strategy_options: keyword options for the named strategy (e.g. ``{"points": 7}`` for grid).
        budget: the resource range ``(min, max)`` that ``tune.steps()`` counts in; hyperband, asha and pbt need it.
        prune: ``"median"`` stops trials whose ``tune.report`` values fall below the median of earlier trials.
        repeats: run each configuration this many times (``tune.seed`` 0, 1, ...) and use the mean.
        refine: continue the study called ``name`` in ranges narrowed around its best trials (coarse to fine).
    """
    if not callable(fn):
        raise OptionError(f"fn must be callable (a function of a dict of parameters), got {fn!r}")
    if not isinstance(space, Mapping):
        raise SpaceError(f"space must map parameter names to tune.* markers, got {type(space).__name__}")
    space = space if isinstance(space, Space) else Space(space)
    check_budget(n_trials, timeout, max_failures, threads)  # before a study is written
    if isinstance(strategy, Strategy):
        if strategy_options:
            raise OptionError("strategy_options only apply when strategy is given by name")
        chosen = strategy
    else:
        chosen = get_strategy(str(strategy), **dict(strategy_options or {}))
    if prune is not None:
        if prune != "median":
            raise OptionError(f"prune takes 'median' or None, got {prune!r}")
        chosen = MedianStopping(chosen)
    if budget is not None:
        budget = check_resource(budget)
    elif chosen.needs_budget:
        raise OptionError(f"the {chosen.name} strategy needs a resource range: budget=(min, max), e.g. (1, 81)")
    study = create_study(
        space=space,
        name=name,
        storage=storage,
        direction=direction,
        strategy=chosen.name,
        seed=seed,
        resume=resume or refine,
    )
    study.optimize(
        FunctionObjective(fn),
        chosen,
        n_trials=n_trials,
        timeout=timeout,
        max_failures=max_failures,
        reporters=reporters,
        threads=threads,
        catch_interrupt=False,
        budget=budget,
        repeats=repeats,
        search_space=refine_space(study.space, study.trials, study.direction) if refine else None,
    )
    return study
