"""Bayesian optimisation with a Gaussian process, driven through scikit-optimize's ``Optimizer``.

scikit-optimize is imported in ``setup``, not at import time, so ``import hpmagic`` stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hpmagic.errors import OptionError
from hpmagic.space import Categorical, Dimension, Float, Int, Space
from hpmagic.strategies._base import Strategy
from hpmagic.trial import Trial

__all__ = ["BayesStrategy"]

logger = logging.getLogger(__name__)

# Acquisition functions that need nothing but the objective's value (the "...ps" ones also need run times).
_ACQ_FUNCS = {"gp_hedge": "gp_hedge", "ei": "EI", "lcb": "LCB", "pi": "PI"}


class BayesStrategy(Strategy):
    """Fits a Gaussian process to the finished trials and proposes the point that maximises an acquisition function.

    The first ``n_initial_points`` configurations are random (drawn as ``RandomStrategy`` draws them, so they do
    not depend on how the run was split by resumes); after that every ask comes from the model. ``tell`` only
    records the trial: the model is refit once at the next ``ask``, for all trials told since, so a warm start
    from a long history costs one fit, and the last trial of a run costs none.

    Failed trials are told as the worst loss seen so far, so the model steers away from regions that crash; a
    failure before any success waits until a first success gives it a value. Pruned trials are told with the value
    they reached. A proposal the model already handed out and that has not been told yet (parallel workers ask
    before earlier trials end) is replaced by a random point.

    Args:
        n_initial_points: random configurations (counting the history's) before the model takes over.
        acq_func: ``"gp_hedge"`` (a portfolio of the three others), ``"EI"``, ``"LCB"`` or ``"PI"``.
        n_candidates: random points at which the acquisition function is evaluated, the best of which seed its
            L-BFGS refinement.
    """

    name = "bayes"
    supports_dynamic = True

    def __init__(self, n_initial_points: int = 10, acq_func: str = "gp_hedge", n_candidates: int = 10000) -> None:
        if isinstance(n_initial_points, bool) or not isinstance(n_initial_points, numbers.Integral):
            raise OptionError(f"n_initial_points must be an integer >= 1, got {n_initial_points!r}")
        if n_initial_points < 1:
            raise OptionError(f"n_initial_points must be >= 1 (the model needs data), got {n_initial_points}")
        key = acq_func.lower() if isinstance(acq_func, str) else None
        if key not in _ACQ_FUNCS:
            raise OptionError(f"unknown acq_func {acq_func!r}; choose one of: gp_hedge, EI, LCB, PI")
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, numbers.Integral) or n_candidates < 1:
            raise OptionError(f"n_candidates must be an integer >= 1, got {n_candidates!r}")
        self.n_initial_points = int(n_initial_points)
        self.acq_func = _ACQ_FUNCS[key]
        self.n_candidates = int(n_candidates)

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        """Build the optimizer over the space and queue the history, which the first model ask fits in one batch."""
        super().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=history)
        # Dimensions with a single choice are constants: skopt gains nothing from them, so they stay out of it.
        self._names = [n for n, d in space.items() if not (isinstance(d, Categorical) and len(d.choices) == 1)]
        self._fillers = {n: _filler(space[n]) for n in self._names}
        self._opt: Any = None
        if self._names:
            from skopt import Optimizer

            self._opt = Optimizer(
                [_to_skopt(space[n]) for n in self._names],
                base_estimator="GP",  # not "GBRT": it fails with scikit-learn >= 1.6 ("... has to be a regressor")
                n_initial_points=self.n_initial_points,
                acq_func=self.acq_func,
                acq_optimizer_kwargs={"n_points": self.n_candidates},
                # skopt seeds a legacy RandomState, which takes only 32-bit seeds; the base class allows any seed >= 0.
                random_state=self.seed % 2**32,
            )
        self._pending_x: list[list[Any]] = []
        self._pending_y: list[float] = []
        self._failed_waiting: list[list[Any]] = []
        self._worst: float | None = None
        self._n_told = 0
        self._outstanding: set[tuple[Any, ...]] = set()
        #: Asks answered at random because the model failed or had no new point to offer (for tests and logs).
        self.n_fallbacks = 0
        for trial in history:
            self._record(trial)

    def ask(self) -> dict[str, Any]:
        params = None
        if self._opt is not None and self._n_told >= self.n_initial_points:
            params = self._ask_model()
        if params is None:
            params = self.space.sample(self.trial_rng(self.n_asked))
        self.n_asked += 1
        return params

    def tell(self, trial: Trial) -> None:
        """Queue the trial for the next fit; cheap, as the loop calls it once per trial."""
        self._record(trial)

    # -- internals ----------------------------------------------------------------------------------------------

    def _record(self, trial: Trial) -> None:
        if self._opt is None or not trial.state.finished:
            return
        x = self._encode(trial.params)
        if x is None:
            return
        self._outstanding.discard(tuple(x))
        value = trial.value
        if value is not None and isinstance(value, numbers.Real) and math.isfinite(value):
            loss = self.sign * float(value)
            self._worst = loss if self._worst is None else max(self._worst, loss)
            self._push(x, loss)
            for waiting in self._failed_waiting:
                self._push(waiting, self._worst)
            self._failed_waiting.clear()
        elif self._worst is not None:
            # A failure is told as the worst loss so far (never NaN): the model avoids the region, and skopt does
            # not keep proposing a point it never heard back from.
            self._push(x, self._worst)
        else:
            self._failed_waiting.append(x)

    def _push(self, x: list[Any], loss: float) -> None:
        self._pending_x.append(x)
        self._pending_y.append(loss)
        self._n_told += 1

    def _ask_model(self) -> dict[str, Any] | None:
        """The model's proposal, or None to fall back to a random point."""
        try:
            with _quiet_single_threaded():
                if self._pending_x:
                    xs, ys = self._pending_x, self._pending_y
                    self._pending_x, self._pending_y = [], []
                    self._opt.tell(xs, ys)
                if not self._opt.models:
                    return None
                x = self._opt.ask()
        except Exception:  # noqa: BLE001
            # skopt/scikit-learn can fail on degenerate data (e.g. a GP fit on identical points). A study must not
            # crash for the sake of one proposal: this trial is drawn at random instead.
            logger.debug("bayes: the model could not propose a point; using a random one", exc_info=True)
            self.n_fallbacks += 1
            return None
        params = self._decode(x)
        key = tuple(self._encode(params) or ())
        if key in self._outstanding:
            # Asked again before the previous proposal was told: the model has not changed, so it would propose
            # the same point; a random one explores instead.
            self.n_fallbacks += 1
            return None
        self._outstanding.add(key)
        return params

    def _encode(self, params: Mapping[str, Any]) -> list[Any] | None:
        """A trial's params as a skopt point; None if a value lies outside the space or no dimension is present.

        Conditional parameters the trial never reached take a neutral filler value; their value did not matter.
        """
        x: list[Any] = []
        present = 0
        for name in self._names:
            if name not in params:
                x.append(self._fillers[name])
                continue
            dim, value = self.space[name], params[name]
            if not dim.contains(value):
                return None
            present += 1
            if isinstance(dim, Categorical):
                x.append(str(dim.index(value)))
            elif isinstance(dim, Int):
                x.append(int(value))
            else:
                x.append(float(value))
        return x if present else None

    def _decode(self, x: Sequence[Any]) -> dict[str, Any]:
        """A skopt point as plain Python values (skopt hands back numpy scalars and string indices)."""
        by_name = dict(zip(self._names, x, strict=True))
        params: dict[str, Any] = {}
        for name, dim in self.space.items():
            if name not in by_name:
                params[name] = dim.choices[0]  # a single-choice dimension
            elif isinstance(dim, Categorical):
                params[name] = dim.choices[int(by_name[name])]
            elif isinstance(dim, Int):
                params[name] = int(min(max(round(float(by_name[name])), dim.low), dim.high))
            else:
                params[name] = float(min(max(float(by_name[name]), dim.low), dim.high))
        return params


def _to_skopt(dim: Dimension) -> Any:
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer, Real

    if isinstance(dim, Float):
        return Real(dim.low, dim.high, prior="log-uniform" if dim.log else "uniform", name=dim.name)
    if isinstance(dim, Int):
        return Integer(dim.low, dim.high, prior="log-uniform" if dim.log else "uniform", name=dim.name)
    if isinstance(dim, Categorical):
        # Choices can be any Python objects (None, tuples, estimators): skopt only ever sees their positions.
        return SkCategorical([str(i) for i in range(len(dim.choices))], name=dim.name)
    raise TypeError(f"unsupported dimension {dim!r}")


def _filler(dim: Dimension) -> Any:
    """The skopt value used for a parameter a trial never reached: its default, else the middle, else choice 0."""
    if isinstance(dim, Categorical):
        i = dim.index(dim.default) if dim.default is not None else None
        return str(i or 0)
    value = dim.default if dim.default is not None else dim.from_unit(0.5)
    return int(value) if isinstance(dim, Int) else float(value)


@contextlib.contextmanager
def _quiet_single_threaded() -> Iterator[None]:
    """Silence skopt's and scikit-learn's warnings (convergence, repeated points) and run BLAS on one thread.

    On two cores, multithreaded BLAS next to a busy process ran hundreds of times slower (DESIGN.md).
    """
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")
        yield
