"""The running trial, as markers and ``tune.report`` see it.

The optimize loop sets the current ``TrialContext`` (a context variable, so threads and async code each see their
own) around each call of the objective. Markers ask it for values; outside it they fall back to defaults.
"""

from __future__ import annotations

import math
import numbers
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from hpmagic._checks import is_int, is_real
from hpmagic.errors import SpaceError
from hpmagic.snapshots import SnapshotStore
from hpmagic.space import Categorical, Dimension, Space
from hpmagic.trial import Trial

if TYPE_CHECKING:
    from hpmagic.schedulers import Scheduler

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
        strategy: Scheduler,
        on_report: Any = None,
        *,
        budget: int | None = None,
        snapshots: SnapshotStore | None = None,
        resume_from: int | None = None,
    ) -> None:
        self.trial = trial
        self.space = space
        self.proposed = proposed
        self.strategy = strategy
        self.on_report = on_report
        self.budget = budget
        self.snapshots = snapshots
        self.dims: dict[str, Dimension] = {}
        #: Names of the namespace's variables that hold training state (``--state``), and that namespace.
        self.state_names: tuple[str, ...] = ()
        self.namespace: dict[str, Any] | None = None
        #: Step and objects this trial continues from (a promotion, a resume or a PBT clone), if any.
        self.start_step = 0
        self.restored: dict[str, Any] | None = None
        if resume_from is not None and snapshots is not None:
            found = snapshots.load(resume_from)
            if found is not None:
                self.start_step, self.restored = found
        #: Which repetition of the configuration runs now (``tune.seed``), and the held-out values recorded.
        self.seed = 0
        self.test_values: list[float] = []
        self._used: set[str] = set()
        self._token: Any = None

    def __enter__(self) -> TrialContext:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)

    def begin_repeat(self, index: int) -> None:
        """Start repetition ``index`` of the same configuration (``--repeats``): markers give the same values."""
        self.seed = index
        self._used = set()

    def record_test(self, value: Any) -> None:
        """A held-out metric (``--test``): stored with the trial, never shown to the strategy."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise SpaceError(f"the held-out test value must be a finite number, got {value!r}")
        self.test_values.append(float(value))

    def suggest(self, name: str, dim: Dimension) -> Any:
        """The value of marker ``name`` in this trial (each name once per run of the objective)."""
        if name in self._used:
            raise SpaceError(
                f"parameter {name!r} was defined twice in one trial; a marker in a loop needs a name that "
                f'changes per iteration, e.g. name=f"{name}_{{i}}"'
            )
        self._used.add(name)
        if name in self.trial.params:  # an earlier repetition of this configuration chose it
            return self.trial.params[name]
        value = self.proposed.get(name, _MISSING)
        if isinstance(dim, Categorical) and value is not _MISSING:
            # The cell builds its choices again each trial (new objects): steer by position, and hand the trial
            # this run's own object, never the one another trial used (it may hold a fitted model).
            static = self.space.get(name)
            i = static.index(value) if isinstance(static, Categorical) and static.same_shape(dim) else None
            if i is None:
                i = dim.index(value)
            value = dim.choices[i] if i is not None else _MISSING
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

    def steps(self) -> range:
        """The resource steps this trial may run: from after its restored step up to its budget."""
        if self.budget is None:
            raise SpaceError("tune.steps() needs a resource range: add --budget MIN..MAX (e.g. --budget 1..81)")
        return range(self.start_step + 1, self.budget + 1)

    def restore(self, name: str, make: Any) -> Any:
        """The restored value of state variable ``name`` when this trial continues another, else ``make()``."""
        if self.restored is not None and name in self.restored:
            return self.restored[name]
        return make()

    def report(
        self,
        value: Any,
        step: int | None = None,
        grad: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
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
        whole = is_int(step) or (is_real(step) and math.isfinite(step) and float(step).is_integer())
        if not (whole and step >= 0):
            # Steps key the median rule's and the schedulers' comparisons: 2.5 must not quietly become step 2.
            raise SpaceError(f"tune.report step= counts epochs or iterations: a whole number >= 0, got {step!r:.40}")
        step = int(step)
        self.trial.intermediate.append((step, float(value)))
        self.trial.user_attrs["resource"] = max(step, int(self.trial.user_attrs.get("resource", 0)))
        self._snapshot(step, state)
        if self.on_report is not None:
            self.on_report(step, float(value))
        if self.strategy.report(self.trial, step, float(value)):
            raise TrialPruned(f"stopped by the strategy at step {step}")

    def _snapshot(self, step: int, state: dict[str, Any] | None) -> None:
        if self.snapshots is None:
            return
        if state is None and self.state_names and self.namespace is not None:
            state = {name: self.namespace[name] for name in self.state_names if name in self.namespace}
        if state:
            self.snapshots.save(self.trial.number, step, state)


_MISSING = object()
