"""The run builder: the one place that turns (strategy, scheduler, options, budget, refine, storage) into a ready
study and the scheduler that will drive it. The magic and ``hpmagic.optimize`` both call ``build_run``, so every
check (unknown options, a scheduler that cannot drive the sampler, a missing budget, an oversized grid) happens the
same way and before a study is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpmagic.constraints import constraint_labels, parse_constraints
from hpmagic.errors import OptionError
from hpmagic.objectives import Shape, resolve_objectives
from hpmagic.queue import check_configs, defaults_config, retries
from hpmagic.refine import refine_space
from hpmagic.samplers import Sampler
from hpmagic.schedulers import FIFOScheduler, MedianStopping, Scheduler, SegmentScheduler
from hpmagic.space import Space
from hpmagic.storage import Storage
from hpmagic.strategies import SAMPLERS, SCHEDULERS, build_search, search_label
from hpmagic.study import Study, as_scheduler, check_resource, check_seed, create_study
from hpmagic.warm import warm_trials

__all__ = ["Run", "build_run", "ends_by_itself"]


@dataclass
class Run:
    """A study ready to optimize: pass these to ``Study.optimize``."""

    study: Study
    search: Scheduler
    n_trials: int | None
    budget: tuple[int, int] | None
    search_space: Space | None


def ends_by_itself(search: Scheduler) -> bool:
    """Whether the study may run without ``--trials``: the schedule or the sampler has a natural end."""
    return search.ends_by_itself or (
        isinstance(search, FIFOScheduler | MedianStopping) and search.sampler.ends_by_itself
    )


def build_run(
    *,
    space: Space,
    strategy: str | Sampler | Scheduler = "bayes",
    scheduler: str | None = None,
    options: Mapping[str, Any] | None = None,
    n_trials: int | None = None,
    default_trials: int | None = None,
    budget: tuple[int, int] | None = None,
    prune: str | None = None,
    refine: bool = False,
    resume: bool = False,
    storage: str | os.PathLike[str] | Storage | None = None,
    name: str | None = None,
    direction: str = "minimize",
    directions: Sequence[str] | Mapping[str, str] | None = None,
    named_objectives: Sequence[tuple[str, str]] = (),
    primary: str | int | None = None,
    objective_shape: Shape = None,
    seed: int | None = None,
    source: str | None = None,
    record_options: dict[str, Any] | None = None,
    dynamic_line: int | None = None,
    timeout: float | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    start_from_defaults: bool = False,
    warm_from: str | None = None,
    constraints: Sequence[str | Callable[..., Any]] = (),
) -> Run:
    """Check the options, build the search, create (or resume) the study.

    Args:
        strategy: a ``--strategy`` name, or a ready sampler or scheduler (then ``options`` must be empty).
        scheduler: a ``--scheduler`` name, or None.
        options: the options of the named sampler and scheduler (``--options``).
        n_trials: the study's total; None takes ``default_trials`` unless the strategy ends by itself.
        prune: ``"median"``: median stopping over the sampler (the same as ``scheduler="median"``).
        dynamic_line: the line of the first marker created while the cell runs, if any (such markers need a
            strategy that supports them).
        record_options: what to store with the study as the options it ran with.
        timeout: the study's time limit, if any (without one, a study needs trials or a strategy that ends).
        enqueue: configurations to run first (missing parameters take their ``default=``, else a random value).
        start_from_defaults: run every marker's ``default=`` first.
        warm_from: the name of a study (``NAME@path.db``: in another store) the strategy learns from.
        constraints: comparisons such as ``"latency <= 10"`` (or, from the API, callables returning a margin, ``<= 0``
            when satisfied): checked here, evaluated after each trial; the best trial is chosen among feasible ones.

        directions / named_objectives / primary / objective_shape: several objectives (see
            ``hpmagic.objectives.resolve_objectives``): by position (``--directions max,min``), by name
            (``--maximize NAME``, a directions dict), the primary one, and what the objective's syntax says.

    Raises:
        OptionError: with a one-line message that names the valid choices.
    """
    objectives = resolve_objectives(
        objective_shape, named=named_objectives, directions=directions, primary=primary, direction=direction
    )
    direction = objectives.direction
    check_seed(seed)
    checks = parse_constraints(constraints)
    search = _search(strategy, scheduler, options, prune)
    resource = check_resource(budget) if budget is not None else None
    if search.needs_budget and resource is None:
        raise OptionError(
            f"the {search.name} scheduler needs a resource range: add --budget MIN..MAX (e.g. 1..81), "
            "or budget=(min, max)"
        )
    label = search_label(search)
    if dynamic_line is not None and not (search.supports_dynamic and search._sampler().supports_dynamic):
        usable = sorted(n for n, c in SAMPLERS.items() if c.supports_dynamic)
        raise OptionError(
            f"the {label} strategy needs every parameter known before the first trial, but the marker on line "
            f"{dynamic_line} is created while the cell runs (in a loop, a function, or with a computed name); "
            f"use one of: {', '.join(usable)}"
        )
    if n_trials is None and not ends_by_itself(search):
        n_trials = default_trials
    if n_trials is None and timeout is None and not ends_by_itself(search):
        raise OptionError(
            f"the {label} strategy has no end of its own: give a number of trials (n_trials=, --trials) or a time "
            "limit (timeout=, --timeout), or it would run for ever"
        )
    # A dry set-up refuses an oversized grid (and other bad settings) before a study is created.
    search.resource = resource
    search.setup(space, direction=direction, seed=seed or 0, n_trials=n_trials)
    first = [defaults_config(space)] if start_from_defaults else []
    queued = check_configs(space, [*first, *enqueue], seed=seed or 0)
    if warm_from is not None:
        if search._sampler().ends_by_itself:
            raise OptionError(f"--warm-from: the {label} strategy enumerates its points and would not learn from them")
        search.warm = warm_trials(warm_from, space, storage)
    study = create_study(
        space=space,
        name=name,
        storage=storage,
        direction=direction,
        strategy=label,
        seed=seed,
        resume=resume or refine,
        source=source,
        options=record_options,
        constraints=constraint_labels(checks),
        objective_names=objectives.names,
        directions=[str(d) for d in objectives.directions],
        primary_index=objectives.primary,
    )
    study.constraint_checks = checks
    search_space = refine_space(study.space, study.trials, study.direction) if refine else None
    # A crash's interrupted trials run again first (a multi-fidelity schedule replays them by itself).
    search._sampler().retries = [] if isinstance(search, SegmentScheduler) else retries(study.trials, space)
    search._sampler().queued = queued
    search._sampler().objectives = study.objectives
    return Run(study, search, n_trials, resource, search_space)


def _search(
    strategy: str | Sampler | Scheduler,
    scheduler: str | None,
    options: Mapping[str, Any] | None,
    prune: str | None,
) -> Scheduler:
    if prune is not None and prune != "median":
        raise OptionError(f"prune takes 'median' or None, got {prune!r}")
    if prune is not None:
        if scheduler not in (None, "median"):
            raise OptionError(
                f"--prune median is the median scheduler; it cannot be combined with --scheduler {scheduler}"
            )
        scheduler = "median"
    if isinstance(strategy, Sampler | Scheduler):
        if options:
            raise OptionError("strategy options only apply when the strategy is given by name")
        search = as_scheduler(strategy)
        if scheduler is not None:
            if not isinstance(search, FIFOScheduler):
                raise OptionError(f"a scheduler was given twice: {search.name} and {scheduler}")
            if scheduler not in SCHEDULERS:
                raise OptionError(f"unknown scheduler {scheduler!r}; choose one of: {', '.join(sorted(SCHEDULERS))}")
            search = SCHEDULERS[scheduler]().attach(search.sampler)
        return search
    return build_search(strategy, scheduler, options)
