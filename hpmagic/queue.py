"""Configurations that run before the strategy's own proposals: ``tune.enqueue``, ``--enqueue``,
``--start-from-defaults``, and on ``--resume`` the trials a crashed kernel left interrupted.

The sampler hands them out one by one (``Sampler.propose``) and learns from their results like any other trial's,
so a bayes or evolution search continues from them. Every configuration is checked against the space before a
study is written: a name the cell does not define, or a value outside its marker, is a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Space
from hpmagic.trial import Trial, TrialState

__all__ = ["check_config", "defaults_config", "retries"]


def check_config(space: Space, config: Any, *, seed: int = 0, index: int = 0, what: str = "enqueued") -> dict:
    """``config`` completed for the whole static space: given values checked, the rest from the markers'
    ``default=``, else drawn at random (seeded by ``seed`` and ``index``, so a run is reproducible)."""
    if not isinstance(config, Mapping):
        raise OptionError(f"an {what} configuration must be a dict of parameter values, got {_short(config)}")
    unknown = [k for k in config if k not in space]
    if unknown:
        raise OptionError(
            f"the {what} configuration {_short(dict(config))} names {', '.join(map(repr, unknown))}, which the "
            f"search space does not have (it has: {', '.join(space) or 'nothing'})"
        )
    params: dict[str, Any] = {}
    rng = np.random.default_rng([seed, 0xE9, index])
    for name in space:
        dim = space[name]
        if name in config:
            value = config[name]
            if not dim.contains(value):
                raise OptionError(
                    f"the {what} configuration has {name}={_short(value)}, outside {name} = tune.{dim.describe()}"
                )
            if isinstance(dim, Categorical):
                value = dim.choices[dim.index(value)]  # type: ignore[index]
            params[name] = value
        elif dim.has_default:
            params[name] = dim.default
        else:
            params[name] = dim.sample(rng)
    return params


def check_configs(space: Space, configs: Iterable[Any], *, seed: int = 0, what: str = "enqueued") -> list[dict]:
    """Every configuration checked and completed (see ``check_config``)."""
    return [check_config(space, c, seed=seed, index=i, what=what) for i, c in enumerate(configs)]


def defaults_config(space: Space) -> dict[str, Any]:
    """The configuration of every marker's ``default=`` (``--start-from-defaults``); an error if none has one."""
    config = {name: space[name].default for name in space if space[name].has_default}
    if not config:
        raise OptionError(
            "--start-from-defaults needs markers with default=..., e.g. lr = tune.loguniform(1e-4, 1, default=0.01)"
        )
    return config


def retries(trials: Sequence[Trial], space: Space) -> list[dict[str, Any]]:
    """The configurations of trials a crash left interrupted, to run again once on ``--resume``.

    Once: a configuration that another trial of the study also ran (its retry, or the retry's original) is not
    retried again, so a configuration that kills the kernel every time is tried twice, not for ever.
    """

    def key(t: Trial) -> str:
        return repr(sorted((n, repr(v)) for n, v in t.params.items()))

    counts: dict[str, int] = {}
    for t in trials:
        counts[key(t)] = counts.get(key(t), 0) + 1
    out = []
    for t in trials:
        crashed = t.state is TrialState.INTERRUPTED and (t.error or "").startswith("the kernel stopped")
        if crashed and counts[key(t)] == 1 and t.params and all(n in t.params for n in space):
            out.append({n: t.params[n] for n in space})
    return out


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
