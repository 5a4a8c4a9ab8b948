"""What ``--strategy`` and ``--scheduler`` name: the registry of samplers and schedulers, and the run's search.

Samplers live in ``hpmagic.samplers``, schedulers in ``hpmagic.schedulers``; this package re-exports them with the
registry, so a new one is one module plus one registry line.
"""

from __future__ import annotations

from hpmagic.samplers import (
    BayesSampler,
    EvolutionSampler,
    GradientSampler,
    GridSampler,
    RandomSampler,
    Sampler,
)
from hpmagic.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperbandScheduler,
    MedianStopping,
    PBTScheduler,
    Scheduler,
    TrialRequest,
    pbt_schedule,
)
from hpmagic.strategies._registry import (
    SAMPLERS,
    SCHEDULERS,
    SHORTHANDS,
    STRATEGIES,
    OptionSpec,
    build_search,
    describe_options,
    get_strategy,
    register,
    search_label,
    strategy_help,
    strategy_tabs,
    unregister,
)

#: Either kind of plug-in: what ``Study.optimize`` and ``optimize(strategy=...)`` accept.
Strategy = Sampler | Scheduler

__all__ = [
    "ASHAScheduler",
    "BayesSampler",
    "EvolutionSampler",
    "FIFOScheduler",
    "GradientSampler",
    "GridSampler",
    "HyperbandScheduler",
    "MedianStopping",
    "OptionSpec",
    "PBTScheduler",
    "RandomSampler",
    "SAMPLERS",
    "SCHEDULERS",
    "SHORTHANDS",
    "STRATEGIES",
    "Sampler",
    "Scheduler",
    "Strategy",
    "TrialRequest",
    "build_search",
    "describe_options",
    "get_strategy",
    "pbt_schedule",
    "register",
    "search_label",
    "strategy_help",
    "strategy_tabs",
    "unregister",
]
