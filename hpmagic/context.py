"""The running trial, as markers and ``tune.report`` see it.

The optimize loop sets the current ``TrialContext`` (a context variable, so threads and async code each see their
own) around each call of the objective. Markers ask it for values; outside it they fall back to defaults.
"""

from __future__ import annotations

import math
import numbers
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from hpmagic.errors import SpaceError
from hpmagic.space import Dimension, Space
from hpmagic.trial import Trial

if TYPE_CHECKING:
    from hpmagic.strategies import Strategy

__all__ = ["TrialContext", "TrialPruned", "current_context"]

_current: ContextVar[TrialContext | None] = ContextVar("hpmagic_trial", default=None)


class TrialPruned(Exception):
    """Raised inside a trial when the strategy stops it early; the loop records the trial as pruned."""


def current_context() -> TrialContext | None:
    """The context of the trial running in this thread, or None outside a study."""
    return _current.get()


class TrialContext:
    """Hands out a trial's hyperparameter values and records what the trial used.

    Args:
        trial: the record being filled (its ``params`` collect the values actually used).
        space: the study's static space.
        proposed: the strategy's values for the static space.
        strategy: asked for values of markers created at run time, and told of intermediate reports.
        on_report: called with ``(step, value)`` after each report (the loop turns it into an event).
    """

    def __init__(
        self,
        trial: Trial,
        space: Space,
        proposed: dict[str, Any],
        strategy: Strategy,
        on_report: Any = None,
    ) -> None:
        self.trial = trial
        self.space = space
        self.proposed = proposed
        self.strategy = strategy
        self.on_report = on_report
        self.dims: dict[str, Dimension] = {}
        self._token: Any = None

    def __enter__(self) -> TrialContext:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)

    def suggest(self, name: str, dim: Dimension) -> Any:
        """The value of marker ``name`` in this trial (each name once per trial)."""
        if name in self.trial.params:
            raise SpaceError(
                f"parameter {name!r} was defined twice in one trial; a marker in a loop needs a name that "
                f'changes per iteration, e.g. name=f"{name}_{{i}}"'
            )
        value = self.proposed.get(name, _MISSING)
        if value is _MISSING or not dim.contains(value):
            value = self.strategy.sample_dynamic(self.trial, name, dim)
        self.trial.params[name] = value
        self.dims[name] = dim
        return value

    def use_all(self) -> dict[str, Any]:
        """Mark every proposed value as used and return them (the Python API passes the whole dict)."""
        for name, value in self.proposed.items():
            self.trial.params.setdefault(name, value)
            self.dims.setdefault(name, self.space[name])
        return dict(self.trial.params)

    def report(self, value: Any, step: int | None = None, grad: dict[str, Any] | None = None) -> None:
        """Record an intermediate value; raise ``TrialPruned`` if the strategy says stop.

        ``grad`` maps parameter names to the objective's derivative with respect to them (a hypergradient); the last
        one reported is kept in ``trial.user_attrs["grad"]`` for strategies that use it.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise SpaceError(f"tune.report needs a finite number, got {value!r}")
        if grad is not None:
            if not isinstance(grad, dict) or not all(
                isinstance(g, numbers.Real) and not isinstance(g, bool) and math.isfinite(float(g))
                for g in grad.values()
            ):
                raise SpaceError(f"tune.report grad= needs a dict of parameter names to finite numbers, got {grad!r}")
            self.trial.user_attrs["grad"] = {str(k): float(g) for k, g in grad.items()}
        if step is None:
            step = self.trial.intermediate[-1][0] + 1 if self.trial.intermediate else 0
        step = int(step)
        self.trial.intermediate.append((step, float(value)))
        if self.on_report is not None:
            self.on_report(step, float(value))
        if self.strategy.report(self.trial, step, float(value)):
            raise TrialPruned(f"stopped by the strategy at step {step}")


_MISSING = object()
