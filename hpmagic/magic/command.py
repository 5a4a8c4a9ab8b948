"""The parsed ``%%tune`` line: a frozen command object tests can build without a shell."""

from __future__ import annotations

import argparse
import ast
import keyword
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from hpmagic._checks import MAX_SECONDS, MAX_SEED, MAX_SIZE, MAX_TRIALS
from hpmagic.constraints import parse_constraints
from hpmagic.errors import OptionError
from hpmagic.objectives import parse_directions
from hpmagic.samplers._grid import MAX_GRID_POINTS
from hpmagic.strategies import SCHEDULERS, STRATEGIES

__all__ = ["TuneCommand", "parse_budget", "parse_duration", "parse_enqueue", "parse_options"]

#: Upper bounds of the size-like options: far above any real study, low enough to refuse absurd values at once.
_MAX_THREADS = 4096
_MAX_STEPS = 1_000_000_000
_MAX_REPEATS = 10_000

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)


def parse_duration(text: str, option: str = "--timeout") -> float:
    """Seconds from ``90``, ``90s``, ``1.5m``, ``10min`` or ``2h`` (``option`` names the flag in errors)."""
    match = _DURATION.match(str(text))
    if not match:
        raise OptionError(f"{option} takes a duration such as 90s, 10m or 1h, got {text!r}")
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise OptionError(f"{option} is at most {MAX_SECONDS // 86400} days, got {_shown(text)}")
    if seconds <= 0:
        raise OptionError(f"{option} must be longer than zero, got {text!r}")
    return seconds


@dataclass(frozen=True)
class TuneCommand:
    """Everything one ``%%tune`` run was asked to do, validated.

    ``n_trials`` None means the strategy's natural budget (the whole grid) or the configured default.
    """

    strategy: str = "bayes"
    n_trials: int | None = None
    timeout: float | None = None
    trial_timeout: float | None = None
    seed: int | None = None
    direction: str = "minimize"
    objective: str | None = None
    max_failures: int = 5
    grid_points: int = 5
    grid_sample: bool = False
    storage: str = "hpmagic.db"
    name: str | None = None
    resume: bool = False
    out: str | None = None
    threads: int | None = 1
    background: bool = False
    jobs: int | None = None
    cluster: str | None = None
    resources: tuple[tuple[str, float], ...] = ()
    budget: tuple[int, int] | None = None
    state: tuple[str, ...] = ()
    prune: str | None = None
    repeats: int = 1
    test: str | None = None
    refine: bool = False
    population: int | None = None
    interval: int | None = None
    strategy_options: tuple[tuple[str, Any], ...] = ()
    scheduler: str | None = None
    enqueue: tuple[dict[str, Any], ...] = ()
    start_from_defaults: bool = False
    warm_from: str | None = None
    constraints: tuple[str, ...] = ()
    #: Several objectives: ``(direction, name)`` per ``--maximize NAME`` / ``--minimize NAME`` in the order given,
    #: the directions by position (``--directions max,min``), and ``--primary NAME``.
    named_objectives: tuple[tuple[str, str], ...] = ()
    directions: tuple[str, ...] = ()
    primary: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            names = ", ".join(sorted(STRATEGIES))
            raise OptionError(f"unknown strategy {self.strategy!r}; choose one of: {names}")
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            names = ", ".join(sorted(SCHEDULERS))
            raise OptionError(f"unknown scheduler {self.scheduler!r}; choose one of: {names}")
        for option, value, low in (
            ("--trials", self.n_trials, 1),
            ("--max-failures", self.max_failures, 1),
            ("--grid-points", self.grid_points, 1),
            ("--threads", self.threads, 1),
            ("--seed", self.seed, 0),
            ("--population", self.population, 2),
            ("--interval", self.interval, 1),
            ("--jobs", self.jobs, 1),
        ):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise OptionError(f"{option} takes an integer >= {low}, got {value!r}")
        for option, value, high in (
            ("--trials", self.n_trials, MAX_TRIALS),
            ("--grid-points", self.grid_points, MAX_GRID_POINTS),
            ("--threads", self.threads, _MAX_THREADS),
            ("--seed", self.seed, MAX_SEED),
            ("--population", self.population, MAX_SIZE),
            ("--interval", self.interval, _MAX_STEPS),
            ("--repeats", self.repeats, _MAX_REPEATS),
            ("--max-failures", self.max_failures, MAX_TRIALS),
        ):
            # Sizes are checked before anything is allocated or looped over: a one-line error, at once.
            if isinstance(value, int) and value > high:
                raise OptionError(f"{option} takes an integer up to {high}, got {_shown(value)}")
        if self.budget is not None and self.budget[1] > _MAX_STEPS:
            raise OptionError(f"--budget MAX is at most {_MAX_STEPS} steps, got {_shown(self.budget[1])}")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout <= MAX_SECONDS):
            raise OptionError(f"--timeout is at most {MAX_SECONDS // 86400} days, got {_shown(self.timeout)}")
        if self.direction not in ("minimize", "maximize"):
            raise OptionError(f"direction must be minimize or maximize, got {self.direction!r}")
        if self.out is not None and (not self.out.isidentifier() or keyword.iskeyword(self.out)):
            raise OptionError(f"--out takes a variable name, got {self.out!r}")
        if self.out == "tune":  # the Study would replace the markers' object: the next cell's tune.* would fail
            raise OptionError("--out tune would replace the tune object the markers need; choose another name")
        if self.objective is not None and not self.objective.strip():
            raise OptionError("--objective needs an expression, e.g. --objective 'model.score(X_val, y_val)'")
        if not self.storage:
            raise OptionError("--storage needs a file path or :memory:")
        if self.name is not None and not self.name.strip():
            raise OptionError("--name needs a non-empty name")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise OptionError(f"--repeats takes an integer >= 1, got {self.repeats!r}")
        if self.test is not None and not self.test.strip():
            raise OptionError("--test needs an expression, e.g. --test 'model.score(X_test, y_test)'")
        if self.population is not None and "pbt" not in self.names and "evolution" not in self.names:
            raise OptionError("--population applies to --strategy pbt and evolution only")
        if self.interval is not None and "pbt" not in self.names:
            raise OptionError("--interval applies to --strategy pbt only")
        if self.jobs is not None and self.jobs > 1024:
            raise OptionError(f"--jobs takes an integer from 1 to 1024, got {self.jobs}")
        if self.resources and self.jobs is None and self.cluster is None:
            raise OptionError("--resources needs workers: add --jobs N or --cluster ADDRESS")
        if self.prune not in (None, "median"):
            raise OptionError(f"--prune takes 'median', got {self.prune!r}")
        if self.warm_from is not None and not self.warm_from.strip():
            raise OptionError("--warm-from needs a study name, e.g. --warm-from 'my study'")
        parse_constraints(self.constraints)  # not a comparison, or not Python: a one-line error before any trial
        if self.state and not all(name.isidentifier() for name in self.state):
            raise OptionError(
                f"--state takes variable names separated by commas, e.g. clf,opt; got {','.join(self.state)!r}"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The strategy's and the scheduler's names."""
        return (self.strategy,) if self.scheduler is None else (self.strategy, self.scheduler)

    def search_options(self) -> dict[str, Any]:
        """The options for the sampler and scheduler: the dedicated flags, then ``--options``."""
        options: dict[str, Any] = {}
        if self.strategy == "grid":
            options = {"points": self.grid_points, "sample": self.grid_sample}
        elif "pbt" in self.names or "evolution" in self.names:
            options = {k: v for k, v in (("population", self.population), ("interval", self.interval)) if v is not None}
        options.update(self.strategy_options)
        return options

    @classmethod
    def from_args(cls, args: Any, defaults: Any) -> TuneCommand:
        """Build from parsed magic arguments; ``defaults`` carries the configured values (``%config TuneMagics``).

        Every value is unquoted here, once: IPython keeps the quotes of ``--strategy 'random'`` or ``--trials "5"``.
        """
        args = argparse.Namespace(**{key: _unquote_all(value) for key, value in vars(args).items()})
        named = tuple(getattr(args, "named_objectives", None) or ())
        bare = {d for d, name in named if name is None}
        direction = "maximize" if "maximize" in bare else "minimize"
        if len(bare) > 1:
            raise OptionError("--maximize and --minimize exclude each other; pick one")
        named = tuple((d, str(unquote(name)).strip()) for d, name in named if name is not None)
        if any(not name for _, name in named):
            raise OptionError("--maximize/--minimize take the name of an objective (a key of the dict objective)")
        return cls(
            strategy=(args.strategy or defaults.strategy).strip().lower(),
            n_trials=_int_option("--trials", args.trials),
            timeout=parse_duration(args.timeout) if args.timeout is not None else None,
            trial_timeout=parse_duration(args.trial_timeout, "--trial-timeout")
            if args.trial_timeout is not None
            else None,
            seed=_int_option("--seed", args.seed),
            direction=direction,
            objective=args.objective,
            max_failures=_or_default(_int_option("--max-failures", args.max_failures), defaults.max_failures),
            grid_points=_or_default(_int_option("--grid-points", args.grid_points), defaults.grid_points),
            grid_sample=bool(args.grid_sample),
            storage=defaults.storage if args.storage is None else args.storage,
            name=args.name,
            resume=bool(args.resume),
            out=args.out,
            threads=_threads(args.threads, defaults.threads),
            background=bool(getattr(args, "background", False)),
            budget=parse_budget(args.budget) if args.budget is not None else None,
            state=tuple(n.strip() for n in (args.state or "").split(",") if n.strip()),
            prune=(args.prune or "").strip().lower() or None if args.prune is not None else None,
            repeats=1 if args.repeats is None else _int("--repeats", args.repeats),
            test=args.test,
            refine=bool(args.refine),
            population=_int_option("--population", args.population),
            interval=_int_option("--interval", args.interval),
            strategy_options=parse_options(args.options) if args.options is not None else (),
            jobs=_int_option("--jobs", args.jobs) if args.jobs is not None else _positive_or_none(defaults.jobs),
            cluster=args.cluster or (defaults.cluster or None),
            resources=parse_resources(args.resources) if args.resources is not None else (),
            scheduler=(args.scheduler or "").strip().lower() or None if args.scheduler is not None else None,
            enqueue=tuple(c for text in args.enqueue or () for c in parse_enqueue(text)),
            start_from_defaults=bool(args.start_from_defaults),
            warm_from=args.warm_from,
            constraints=tuple(str(text).strip() for text in getattr(args, "constraint", None) or ()),
            named_objectives=named,
            directions=parse_directions(args.directions) if args.directions is not None else (),
            primary=args.primary.strip() if args.primary is not None else None,
        )

    def options(self) -> dict[str, Any]:
        """The command as a plain dict (stored with the study)."""
        return asdict(self)


class ObjectiveDirection(argparse.Action):
    """``--maximize`` / ``--minimize``: bare, the direction of the one objective; with a NAME (repeatable), the
    direction of that key of a dict objective. Keeps ``(direction, NAME or None)`` in the order given."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)
        named = list(getattr(namespace, "named_objectives", None) or [])
        named.append((self.dest, values))
        namespace.named_objectives = named


def parse_options(text: str | None) -> tuple[tuple[str, Any], ...]:
    """``(("eta", 2), ("method", "central"))`` from ``eta=2,method=central``: a strategy's own options."""
    pairs = []
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise OptionError(f"--options takes NAME=VALUE pairs separated by commas, e.g. eta=2; got {item!r}")
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        pairs.append((key.strip(), value))
    return tuple(pairs)


def parse_enqueue(text: str | None) -> tuple[dict[str, Any], ...]:
    """The configurations of one ``--enqueue``: a dict literal, or a list of them."""
    try:
        value = ast.literal_eval(str(text).strip())
    except (ValueError, SyntaxError):
        value = None
    configs = value if isinstance(value, list) else [value]
    if not configs or not all(isinstance(c, dict) and all(isinstance(k, str) for k in c) for c in configs):
        raise OptionError(
            f"--enqueue takes a dict of parameter values (or a list of dicts), e.g. --enqueue \"{{'lr': 0.01, "
            f"'depth': 4}}\"; got {_shown(text)}"
        )
    return tuple(configs)


def parse_resources(text: str | None) -> tuple[tuple[str, float], ...]:
    """``(("GPU", 1.0),)`` from ``GPU=1``: Dask worker resources every trial claims."""
    pairs = []
    for item in (part.strip() for part in str(text).split(",")):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        try:
            amount = float(raw)
        except ValueError:
            amount = -1.0
        if not sep or not key.strip() or not 0 < amount < 1e9:
            raise OptionError(f"--resources takes NAME=AMOUNT pairs separated by commas, e.g. GPU=1; got {item!r}")
        pairs.append((key.strip(), amount))
    if not pairs:
        raise OptionError("--resources takes NAME=AMOUNT pairs separated by commas, e.g. GPU=1")
    return tuple(pairs)


def _positive_or_none(value: int) -> int | None:
    return value if value and value > 1 else None


def parse_budget(text: str | None) -> tuple[int, int]:
    """``(1, 81)`` from ``1..81``: the resource range that ``tune.steps()`` counts in."""
    match = re.match(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*$", str(text))
    if not match:
        raise OptionError(f"--budget takes MIN..MAX steps, e.g. --budget 1..81; got {text!r}")
    if len(match.group(1)) > 12 or len(match.group(2)) > 12:
        raise OptionError(f"--budget MAX is at most {_MAX_STEPS} steps, got {_shown(text)}")
    low, high = int(match.group(1)), int(match.group(2))
    if not 1 <= low <= high:
        raise OptionError(f"--budget needs 1 <= MIN <= MAX, got {text!r}")
    return low, high


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def unquote(text: str | None) -> str | None:
    """IPython keeps the quotes of a quoted option value ("--name 'my study'"); drop one matching pair."""
    if text is not None and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _unquote_all(value: Any) -> Any:
    """``unquote`` a parsed option's value: a string, or each string of a repeatable option's list."""
    if isinstance(value, str):
        return unquote(value)
    if isinstance(value, list):
        return [unquote(item) if isinstance(item, str) else item for item in value]
    return value


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value


def _int_option(option: str, text: str | None) -> int | None:
    return None if text is None else _int(option, text)


def _int(option: str, text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise OptionError(f"{option} takes an integer, got {text!r}") from None


def _threads(text: str | None, default: int) -> int | None:
    if text is not None and str(text).strip().lower() in ("all", "none", "0"):
        return None
    value = _int_option("--threads", text)
    if value is not None:
        return value
    return default if default > 0 else None
