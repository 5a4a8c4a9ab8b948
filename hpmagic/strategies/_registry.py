"""The registry of samplers and schedulers, what each declares, and how a name plus options becomes a search.

A new sampler or scheduler is one module plus one line in ``SAMPLERS`` or ``SCHEDULERS`` (or ``register``): its
options (the constructor's keyword parameters, typed by their annotations and documented by the class docstring's
``Args:``), whether it ends by itself, needs a static space or a budget, and its dashboard tabs are read from the
class, so ``--options`` is checked, ``%%tune?`` lists them, and the run builder combines them, with no other edit.
"""

from __future__ import annotations

import inspect
import numbers
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.samplers import BayesSampler, EvolutionSampler, GradientSampler, GridSampler, RandomSampler, Sampler
from hpmagic.schedulers import (
    ASHAScheduler,
    FIFOScheduler,
    HyperbandScheduler,
    MedianStopping,
    PBTScheduler,
    Scheduler,
)

__all__ = [
    "SAMPLERS",
    "SCHEDULERS",
    "SHORTHANDS",
    "STRATEGIES",
    "OptionSpec",
    "build_search",
    "describe_options",
    "get_strategy",
    "register",
    "search_label",
    "strategy_help",
    "strategy_tabs",
    "unregister",
]

#: Samplers by the name ``--strategy`` accepts.
SAMPLERS: dict[str, type[Sampler]] = {
    "bayes": BayesSampler,
    "evolution": EvolutionSampler,
    "gradient": GradientSampler,
    "grid": GridSampler,
    "random": RandomSampler,
}

#: Schedulers by the name ``--scheduler`` accepts.
SCHEDULERS: dict[str, type[Scheduler]] = {
    "asha": ASHAScheduler,
    "hyperband": HyperbandScheduler,
    "median": MedianStopping,
    "pbt": PBTScheduler,
}

#: ``--strategy`` names that stand for random search under a scheduler (``--strategy hyperband``).
SHORTHANDS: tuple[str, ...] = ("asha", "hyperband", "pbt")

#: Every name ``--strategy`` accepts, with the class it names (a sampler, or a shorthand's scheduler).
STRATEGIES: dict[str, type[Sampler] | type[Scheduler]] = {}


def _refresh() -> None:
    STRATEGIES.clear()
    STRATEGIES.update(SAMPLERS)
    STRATEGIES.update({name: SCHEDULERS[name] for name in SHORTHANDS if name in SCHEDULERS})
    for key in sorted(STRATEGIES):
        STRATEGIES[key] = STRATEGIES.pop(key)


_refresh()


def register(cls: type[Sampler] | type[Scheduler], *, shorthand: bool = False) -> None:
    """Add a sampler or scheduler under ``cls.name`` (a scheduler with ``shorthand``: also a ``--strategy``)."""
    if not getattr(cls, "name", ""):
        raise OptionError(f"{cls.__name__} needs a name to be registered")
    if issubclass(cls, Sampler):
        SAMPLERS[cls.name] = cls
    elif issubclass(cls, Scheduler):
        SCHEDULERS[cls.name] = cls
        global SHORTHANDS
        if shorthand and cls.name not in SHORTHANDS:
            SHORTHANDS = (*SHORTHANDS, cls.name)
    else:
        raise OptionError(f"{cls!r} is neither a Sampler nor a Scheduler")
    _refresh()


def unregister(name: str) -> None:
    """Remove a name added with ``register`` (tests register a tiny strategy and remove it)."""
    global SHORTHANDS
    SAMPLERS.pop(name, None)
    SCHEDULERS.pop(name, None)
    SHORTHANDS = tuple(n for n in SHORTHANDS if n != name)
    _refresh()


# -- options -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionSpec:
    """One option of a sampler or scheduler: its name, type (as annotated), default and help sentence."""

    name: str
    annotation: Any
    default: Any
    help: str

    @property
    def type_name(self) -> str:
        return _type_name(self.annotation)


def describe_options(cls: type[Sampler] | type[Scheduler]) -> list[OptionSpec]:
    """The options of ``cls``: its constructor's keyword parameters (a scheduler's ``sampler`` excluded)."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to the raw strings
        hints = {}
    docs = _arg_docs(cls.__doc__ or "")
    out = []
    for p in inspect.signature(cls).parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.name in ("sampler", "inner"):
            continue
        default = None if p.default is p.empty else p.default
        out.append(OptionSpec(p.name, hints.get(p.name, p.annotation), default, docs.get(p.name, "")))
    return out


def _arg_docs(doc: str) -> dict[str, str]:
    """``name -> sentence`` from a Google-style ``Args:`` section."""
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    inside, current = False, None
    for line in lines:
        if line.strip() == "Args:":
            inside = True
            continue
        if inside:
            if line and not line.startswith(" "):
                break
            match = re.match(r"^\s{4}(\w+)(?: \(.*?\))?:\s*(.*)$", line)
            if match:
                current = match.group(1)
                out[current] = match.group(2).strip()
            elif current and line.strip():
                out[current] += " " + line.strip()
    return out


def _type_name(annotation: Any) -> str:
    args = typing.get_args(annotation)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in rest) + " or None"
    if annotation is bool:
        return "true/false"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if annotation is str:
        return "text"
    origin = typing.get_origin(annotation)
    if origin is not None and origin in (Sequence, list, tuple) or annotation in (Sequence, list, tuple):
        inner = typing.get_args(annotation)
        return f"list of {_type_name(inner[0])}s" if inner else "list"
    return getattr(annotation, "__name__", str(annotation))


def _fits(annotation: Any, value: Any) -> bool:
    """Whether ``value`` has the annotated type (ints pass for floats; bools only for bools)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if args and origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_fits(a, value) for a in args)
    if annotation is type(None) or annotation is None:
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (Sequence, list, tuple) or annotation in (Sequence, list, tuple):
        inner = typing.get_args(annotation)
        if isinstance(value, str) or not isinstance(value, Sequence):
            return False
        return not inner or all(_fits(inner[0], v) for v in value)
    return True  # an annotation this check does not know: the constructor validates


def check_options(cls: type[Sampler] | type[Scheduler], options: Mapping[str, Any], who: str) -> None:
    """An OptionError for an unknown option or a value of the wrong type, naming the valid ones."""
    specs = {s.name: s for s in describe_options(cls)}
    unknown = sorted(set(options) - set(specs))
    if unknown:
        allowed = f"its options are: {', '.join(specs)}" if specs else "it takes no options"
        plural = "s" if len(unknown) > 1 else ""
        raise OptionError(f"{who} has no option{plural} {', '.join(map(repr, unknown))}; {allowed}")
    for name, value in options.items():
        spec = specs[name]
        if not _fits(spec.annotation, value):
            raise OptionError(f"{who}: option {name} takes {spec.type_name}, got {value!r}")


# -- building a search -------------------------------------------------------------------------------------------------


def _resolve(strategy: str, scheduler: str | None) -> tuple[type[Sampler], type[Scheduler] | None, bool]:
    """(sampler class, scheduler class or None, whether the sampler was chosen by the user)."""
    key = strategy.strip().lower() if isinstance(strategy, str) else strategy
    sched_key = scheduler.strip().lower() if isinstance(scheduler, str) else scheduler
    if not isinstance(key, str) or key not in STRATEGIES:
        raise OptionError(f"unknown strategy {strategy!r}; choose one of: {', '.join(sorted(STRATEGIES))}")
    if sched_key is not None and sched_key not in SCHEDULERS:
        raise OptionError(f"unknown scheduler {scheduler!r}; choose one of: {', '.join(sorted(SCHEDULERS))}")
    if key in SAMPLERS:
        return SAMPLERS[key], SCHEDULERS[sched_key] if sched_key else None, True
    if sched_key is not None and sched_key != key:
        raise OptionError(
            f"--strategy {key} already schedules trials (it is random search with the {key} scheduler); "
            f"pick a sampler for --strategy, e.g. --strategy bayes --scheduler {sched_key}"
        )
    return RandomSampler, SCHEDULERS[key], False


def build_search(
    strategy: str,
    scheduler: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Scheduler:
    """The sampler and scheduler that ``--strategy`` / ``--scheduler`` / ``--options`` name, combined.

    Options go to whichever of the two declares them (the sampler first). Raises an OptionError, naming the valid
    choices, for an unknown name, an unknown option, an option of the wrong type, or a scheduler combined with a
    sampler it cannot drive.
    """
    sampler_cls, scheduler_cls, chosen = _resolve(strategy, scheduler)
    if options is not None and not isinstance(options, Mapping):
        raise OptionError(f"strategy options are a dict of names to values, e.g. {{'eta': 2}}; got {options!r}")
    options = dict(options or {})
    sampler_names = {s.name for s in describe_options(sampler_cls)}
    scheduler_names = {s.name for s in describe_options(scheduler_cls)} if scheduler_cls else set()
    to_sampler = {k: v for k, v in options.items() if k in sampler_names}
    to_scheduler = {k: v for k, v in options.items() if k not in sampler_names and k in scheduler_names}
    unknown = sorted(set(options) - sampler_names - scheduler_names)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        names = ", ".join(map(repr, unknown))
        if scheduler_cls is None:
            valid = [spec.name for spec in describe_options(sampler_cls)]
            allowed = f"its options are: {', '.join(valid)}" if valid else "it takes no options"
            raise OptionError(f"the {sampler_cls.name} strategy has no option{plural} {names}; {allowed}")
        valid = sorted(sampler_names | scheduler_names)
        raise OptionError(
            f"neither the {sampler_cls.name} strategy nor the {scheduler_cls.name} scheduler has the option{plural} "
            f"{names}; their options are: {', '.join(valid) or 'none'}"
        )
    if scheduler_cls is not None:
        if chosen and not scheduler_cls.takes_sampler and sampler_cls is not RandomSampler:
            raise OptionError(
                f"the {scheduler_cls.name} scheduler brings its own sampler (it perturbs its members' settings); "
                f"use --strategy {scheduler_cls.name} without another sampler"
            )
        if scheduler_cls.needs_budget and not sampler_cls.schedulable:
            usable = ", ".join(sorted(n for n, c in SAMPLERS.items() if c.schedulable))
            raise OptionError(
                f"the {scheduler_cls.name} scheduler cannot draw its configurations from {sampler_cls.name}; "
                f"use one of: {usable}"
            )
    check_options(sampler_cls, to_sampler, f"the {sampler_cls.name} sampler")
    sampler = sampler_cls(**to_sampler)
    if scheduler_cls is None:
        return FIFOScheduler(sampler)
    check_options(scheduler_cls, to_scheduler, f"the {scheduler_cls.name} scheduler")
    return scheduler_cls(**to_scheduler).attach(sampler)


def get_strategy(name: str, **options: Any) -> Sampler | Scheduler:
    """A new sampler (or a shorthand's scheduler over random search) by ``--strategy`` name, with its options."""
    search = build_search(name, None, options)
    return search.sampler if isinstance(search, FIFOScheduler) else search


def search_label(search: Scheduler) -> str:
    """The strategy name a study records and shows: ``bayes``, ``hyperband`` (random + hyperband),
    ``bayes+hyperband``; median stopping keeps the sampler's name, as ``--prune median`` always did."""
    sampler = search._sampler()
    if isinstance(search, FIFOScheduler | MedianStopping):
        return sampler.name
    if type(sampler) is RandomSampler or not search.takes_sampler:
        return search.name
    return f"{sampler.name}+{search.name}"


def strategy_tabs(label: str) -> tuple[str, ...]:
    """The extra dashboard tabs the strategy a study records (``bayes``, ``bayes+hyperband``, ``pbt``) declares."""
    tabs: list[str] = []
    for part in str(label or "").split("+"):
        cls = STRATEGIES.get(part) or SCHEDULERS.get(part)
        for tab in getattr(cls, "tabs", ()):
            if tab not in tabs:
                tabs.append(tab)
    return tuple(tabs)


def strategy_help() -> str:
    """Every strategy and scheduler with its options, for ``%%tune?`` and the README."""
    lines = []
    tables: tuple[tuple[str, Mapping[str, type[Sampler] | type[Scheduler]]], ...] = (
        ("strategies", SAMPLERS),
        ("schedulers", SCHEDULERS),
    )
    for kind, table in tables:
        lines.append(f"{kind.capitalize()}:")
        for name, cls in sorted(table.items()):
            specs = describe_options(cls)
            opts = ", ".join(f"{s.name}={s.default!r} ({s.type_name})" for s in specs) or "no options"
            lines.append(f"  {name}: {opts}")
    lines.append(f"Shorthands: --strategy {', '.join(SHORTHANDS)} = random search with that scheduler.")
    return "\n".join(lines)
