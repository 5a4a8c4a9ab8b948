"""The ``tune`` object: hyperparameter markers and the results of the latest study.

Inside a trial a marker returns the value the strategy chose. Outside a study it returns its ``default=``, else the
value from the best trial of the latest study that defined it, else it raises a clear error. A marker whose name
cannot be told from its place in the code (a value in a dict passed to ``hpmagic.optimize``) returns its dimension
instead, which is how search spaces are declared in plain Python.
"""

from __future__ import annotations

import builtins
import os
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from hpmagic.context import current_context
from hpmagic.errors import MarkerValueError, SpaceError
from hpmagic.marker_names import name_at_frame
from hpmagic.space import NO_DEFAULT, Categorical, Dimension, Float, Int

if TYPE_CHECKING:
    from hpmagic.study import Study
    from hpmagic.trial import Trial

__all__ = ["Tune", "tune"]


class Tune:
    """Hyperparameter markers (``tune.uniform`` ...) and the latest results (``tune.best``, ``tune.study``)."""

    def __init__(self) -> None:
        self.study: Study | None = None
        self._chosen: Trial | None = None
        self._best_by_param: dict[str, Any] = {}
        #: Path of the study store that markers outside a study consult (set by the magic / ``%config``).
        self.storage_path: str | None = None
        self._pending: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return "<hpmagic tune: markers uniform, loguniform, int, choice; tune.best, tune.study>"

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        """Pickled by reference: in another process (a Dask worker) ``tune`` is that process's own, never a copy that
        would drag the latest study (and its store's locks) along with a function that mentions ``tune``."""
        return (_the_tune, ())

    # -- markers ---------------------------------------------------------------------------------------------------

    def uniform(self, low: float, high: float, *, default: float | None = None, name: str | None = None) -> Any:
        """A real number drawn uniformly from ``[low, high]``."""
        return self._marker(Float(low, high, False, default, name), name, sys._getframe(1))

    def loguniform(self, low: float, high: float, *, default: float | None = None, name: str | None = None) -> Any:
        """A real number in ``[low, high]`` drawn uniformly in log space (learning rates, regularisation)."""
        return self._marker(Float(low, high, True, default, name), name, sys._getframe(1))

    def int(
        self, low: int, high: int, *, log: bool = False, default: int | None = None, name: str | None = None
    ) -> Any:
        """An integer in ``[low, high]``, both included; ``log=True`` spaces it logarithmically."""
        return self._marker(Int(low, high, log, default, name), name, sys._getframe(1))

    def choice(self, choices: Sequence[Any], *, default: Any = NO_DEFAULT, name: str | None = None) -> Any:
        """One of ``choices`` (any objects: strings, numbers, classes, None); ``default=None`` means default None."""
        return self._marker(Categorical(choices, default, name), name, sys._getframe(1))  # type: ignore[arg-type]

    # -- intermediate results --------------------------------------------------------------------------------------

    def steps(self, n: builtins.int | None = None) -> range:
        """The training steps (epochs, iterations) this trial may run: ``for epoch in tune.steps(): ...``.

        In a study with ``--budget MIN..MAX`` a scheduler grants each trial its budget (a promoted or cloned trial
        starts after the step it continues from). Outside a study it counts to ``n``, else to the latest study's
        maximum budget.
        """
        ctx = current_context()
        if ctx is not None:
            return ctx.steps()
        if n is None and self.study is not None and self.study.resource is not None:
            n = self.study.resource[1]
        if n is None:
            raise MarkerValueError("tune.steps() has no budget outside a study: pass tune.steps(n) or run %%tune first")
        return range(1, int(n) + 1)

    def report(
        self,
        value: float,
        step: builtins.int | None = None,
        *,
        grad: dict[str, float] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Record an intermediate value of the running trial (ignored outside a study).

        ``step`` counts the trial's resource (epochs, iterations); a scheduler may stop the trial here (it is then
        recorded as pruned, with this value). ``grad`` optionally gives d(objective)/d(parameter) for the gradient
        strategy, e.g. ``tune.report(loss, grad={"alpha": dloss_dalpha})``. ``state`` (plain-Python objectives)
        saves objects a promoted or cloned trial continues from; see ``restored``.
        """
        ctx = current_context()
        if ctx is not None:
            ctx.report(value, step, grad=grad, state=state)

    @property
    def seed(self) -> builtins.int:
        """The repetition of the running configuration (0, 1, ... with ``--repeats``): use it as a random_state."""
        ctx = current_context()
        return ctx.seed if ctx is not None else 0

    def holdout(self, value: float) -> None:
        """Record a held-out test metric for the running trial (what ``--test EXPR`` does for a cell).

        It is stored with the trial and shown only after the study, next to the validation value; strategies never
        see it, so the search cannot overfit to it.
        """
        ctx = current_context()
        if ctx is not None:
            ctx.record_test(value)

    def restored(self) -> dict[str, Any] | None:
        """The state this trial continues from (what an earlier trial passed as ``report(state=...)``), or None.

        For plain-Python objectives; in a cell, ``--state`` restores the variables by itself.
        """
        ctx = current_context()
        return ctx.restored if ctx is not None else None

    # -- known configurations ----------------------------------------------------------------------------------------

    def enqueue(self, config: dict[str, Any]) -> None:
        """Run this configuration first, e.g. ``tune.enqueue({"lr": 0.01, "depth": 4})``.

        Before a study: the next ``%%tune`` (or ``hpmagic.optimize``) runs it before its strategy's own proposals
        and learns from it. While a study runs in the background (``--background``, or code next to the
        dashboard): it is its next trial. Missing parameters take their ``default=``, else a random value.
        """
        if not isinstance(config, dict):
            raise SpaceError(f"tune.enqueue takes a dict of parameter values, got {type(config).__name__}")
        if self.study is not None and self.study.running:
            self.study.enqueue(config)
        else:
            self._pending.append(dict(config))

    def pending(self, clear: bool = False) -> list[dict[str, Any]]:
        """The configurations ``enqueue`` holds for the next study (``clear=True`` empties the list)."""
        out = list(self._pending)
        if clear:
            self._pending.clear()
        return out

    # -- results ---------------------------------------------------------------------------------------------------

    @property
    def best(self) -> dict[str, Any]:
        """Best parameters of the latest study run in this session (empty before any). Of a multi-objective study:
        the published trial's (the one chosen with "Use best", else the front's best on the primary objective)."""
        trial = self._chosen or (self.study.primary_best if self.study is not None else None)
        return {} if trial is None else dict(trial.params)

    def _remember(self, study: Study, chosen: Trial | None = None) -> None:
        """Make ``study`` the latest: its best values (or those of ``chosen``, a trial of a multi-objective study's
        front) answer markers evaluated outside a study."""
        self.study = study
        self._chosen = chosen
        trial = chosen or study.primary_best
        if trial is not None:
            self._best_by_param.update(trial.params)

    def _forget(self) -> None:
        self.study = None
        self._chosen = None
        self._best_by_param.clear()

    # -- internals -------------------------------------------------------------------------------------------------

    def _marker(self, dim: Dimension, name: str | None, frame: FrameType) -> Any:
        ctx = current_context()
        if ctx is not None:
            if name is None:
                _found, name = name_at_frame(frame)
            if name is None:
                raise SpaceError(
                    f"tune.{_kind(dim)} needs a name: assign it to a variable, pass it as a keyword argument, "
                    "make it a dict value under a string key, or give name='...'"
                )
            return ctx.suggest(name, dim if dim.name == name else dim.with_name(name))
        if name is None:
            _found, name = name_at_frame(frame, dict_keys=False)
        if name is None:
            return dim  # declaring a search space in plain Python (a dict's values among them)
        return self._value_outside(name, dim)

    def _value_outside(self, name: str, dim: Dimension) -> Any:
        if dim.has_default:
            return dim.default
        if name in self._best_by_param and dim.contains(self._best_by_param[name]):
            return _own(dim, self._best_by_param[name])
        if self.storage_path and os.path.isfile(self.storage_path):
            from hpmagic.storage import Storage  # imported here: only needed after a kernel restart

            try:
                store = Storage.open_read_only(self.storage_path)
            except Exception:  # noqa: BLE001 - a missing or broken store just means "no stored value"
                store = None
            if store is not None:
                try:
                    found, value = store.best_value_of(name, dim)
                except Exception:  # noqa: BLE001 - a damaged store just means "no stored value"
                    found, value = False, None
                finally:
                    store.close()
                if found and dim.contains(value):
                    return _own(dim, value)
        raise MarkerValueError(
            f"tune.{_kind(dim)} {name!r} has no value outside a study: give it default=..., "
            "or run the cell with %%tune first"
        )


def _own(dim: Dimension, value: Any) -> Any:
    """The marker's own choice object for a remembered value (the cell built new ones since, e.g. ``Ridge()``)."""
    if isinstance(dim, Categorical):
        i = dim.index(value)
        if i is not None:
            return dim.choices[i]
    return value


def _kind(dim: Dimension) -> str:
    if isinstance(dim, Float):
        return "loguniform" if dim.log else "uniform"
    return {"int": "int", "categorical": "choice"}.get(dim.kind, dim.kind)


#: The one ``tune`` object; ``%load_ext hpmagic`` puts it in the notebook's namespace.
tune = Tune()


def _the_tune() -> Tune:
    """This process's ``tune`` (what a pickled ``tune`` becomes when it is loaded)."""
    return tune
