"""Gradient descent on the continuous hyperparameters, with reported hypergradients or estimated ones.

The engine runs one configuration per trial, so the strategy is a small state machine across asks and tells:
ask the probes of a gradient estimate, then the step they point to, then the probes around the new point, and so
on. It works in the unit cube of ``Dimension.to_unit``, which is the log domain for log dimensions: a learning rate
moves by factors there, not by absolute amounts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpmagic._checks import is_int, is_real
from hpmagic.errors import OptionError
from hpmagic.samplers._base import DynamicPolicy, Sampler, SeededDynamic
from hpmagic.space import Categorical, Dimension, Float, Int
from hpmagic.trial import Trial, TrialState

__all__ = ["GradientSampler"]

_METHODS = ("spsa", "central")
_SCHEDULES = ("1/sqrt", "1/t", "constant")
# The longest step, in the unit cube: a tenth of each range (a tenth of the decades of a log range). Without it the
# first step, whose size nothing yet calibrates, could jump across the space.
_MAX_STEP = 0.1
# An accepted step grows the next one, a rejected one (worse, or failed) halves it: the step size adapts to the
# problem's curvature, which a fixed schedule cannot know.
_GROW, _SHRINK = 1.5, 0.5
# Spall's exponent for the decay of the perturbation size: slow, so the estimate's noise does not blow up.
_GAMMA = 0.101
_C_TIE = 2.0
_C_FLOOR = 0.001
_MISSING = object()


@dataclass
class _Point:
    """A point of the descent: unit-cube coordinates, its loss (``sign * value``) and, once known, the gradient of
    the loss in unit-cube coordinates."""

    u: np.ndarray
    loss: float
    grad: np.ndarray | None = None
    number: int | None = None
    #: SPSA: the probes' difference vector and the difference of their losses (the slope along that line is exact
    #: on a quadratic, unlike the SPSA gradient, which is exact only on average).
    line: tuple[np.ndarray, float] | None = None
    #: Whether ``grad`` was estimated from probes (rather than reported by the trial).
    estimated: bool = False


@dataclass
class _Ask:
    """An ask not told yet. ``kind``: random (start phase), center (a step), probe (of estimate ``gen``), extra."""

    kind: str
    index: int
    params: dict[str, Any]
    u: np.ndarray | None = None
    gen: int = -1
    tag: tuple[int, int] = (0, 0)
    origin: _Point | None = None


class GradientSampler(Sampler):
    """Tunes the float parameters by gradient descent, after a short random start.

    Phase 1: the first ``initial`` trials are random draws over the whole space (the draws ``RandomSampler``
    makes with the same seed). Integer and categorical parameters have no gradient, so they are then fixed at the
    values of the best trial, and so are markers created at run time; ``notes`` says so, with the values.

    Phase 2: descent on the unit-cube coordinates ``u`` of the float parameters, from the best trial's point. Each
    iteration needs the gradient of the loss at the current point:

    * if that point's trial reported one (``tune.report(value, grad={"alpha": dvalue_dalpha})``, kept in
      ``trial.user_attrs["grad"]``, in the parameter's own units), it is converted to the unit cube by the chain
      rule (``dx/du = x * ln(high / low)`` for a log dimension, ``high - low`` otherwise): one trial per iteration;
    * otherwise it is estimated: ``"spsa"`` evaluates ``u + c_t * delta`` and ``u - c_t * delta`` for a random
      +-1 vector ``delta`` (two trials whatever the number of parameters), ``"central"`` evaluates ``u +- c_t`` along
      each coordinate (two trials per parameter, exact on quadratics). ``c_t = c / (t + 1) ** 0.101`` (Spall).

    The step is ``u -= k * lr_t * g / g0``, clipped to the cube, where ``lr_t`` follows ``schedule`` (``lr /
    sqrt(t + 1)`` by default, ``t`` counting accepted steps) and ``g0`` is the norm of the first gradient, so the
    objective's units do not matter and steps shrink as the gradient does near the optimum. No step is longer than
    ``0.1 * k``: the first one, which nothing calibrates yet, moves at most a tenth of each range (of the decades of
    a log range). ``k`` adapts the step size to the problem's curvature, which a fixed schedule cannot know: the new
    point is evaluated, and if its loss is lower it becomes the current point and ``k`` grows by 1.5; if not, the
    descent goes back to the best point and ``k`` shrinks to where a parabola through the two losses and the slope
    has its minimum (backtracking with quadratic interpolation, between 0.1 and 0.5 times). A failed trial halves
    ``k`` (a failed probe also halves ``c``).

    An estimated gradient is the slope over the probes' distance: far from the optimum that is what is wanted, near
    it the slope at a finer scale can point elsewhere. So ``c_t`` is also kept below twice the last accepted step,
    and once backtracking has shrunk the step below ``c_t`` the gradient is estimated again with probes half as far.
    Successive SPSA directions are drawn different from each other, or two-parameter problems would often probe
    the same diagonal twice.

    A space without float parameters has nothing to descend on: every trial is then a random draw, and ``notes``
    says so. Everything random comes from ``trial_rng(ask index)``, so a seed reproduces the run; a resumed study
    replays its history through the same state machine and continues where it stopped (if the history is not this
    strategy's own, it restarts the descent from the best trial).

    Args:
        initial: random trials before the descent (at least 1: the descent needs a starting point).
        lr: learning rate, in unit-cube lengths per normalised gradient.
        schedule: ``"1/sqrt"`` (``lr / sqrt(t + 1)``), ``"1/t"`` (``lr / (t + 1)``) or ``"constant"``.
        method: ``"spsa"`` or ``"central"`` finite differences, for when no gradient is reported.
        c: perturbation size of the estimate, in the unit cube.

    Attributes:
        notes: what the strategy decided that the user should know (parameters it fixed, why it samples at random).
        fixed: the integer, categorical and run-time parameters held fixed during the descent.
    """

    name = "gradient"
    supports_dynamic = True
    # A descent needs each step's result at the full budget, in order: not a sampler for hyperband or asha.
    schedulable = False

    def __init__(
        self,
        initial: int = 8,
        lr: float = 0.3,
        schedule: str = "1/sqrt",
        method: str = "spsa",
        c: float = 0.1,
    ) -> None:
        if not is_int(initial) or initial < 1:
            raise OptionError(f"initial must be an integer >= 1 (the descent needs a starting point), got {initial!r}")
        if not (is_real(lr) and math.isfinite(lr) and lr > 0):
            raise OptionError(f"lr must be a positive number, got {lr!r}")
        key = schedule.strip().lower() if isinstance(schedule, str) else None
        if key not in _SCHEDULES:
            raise OptionError(f"unknown schedule {schedule!r}; choose one of: {', '.join(_SCHEDULES)}")
        meth = method.strip().lower() if isinstance(method, str) else None
        if meth not in _METHODS:
            raise OptionError(f"unknown method {method!r}; choose one of: {', '.join(_METHODS)}")
        if not (is_real(c) and 0 < c <= 0.5):
            raise OptionError(f"c must be a number in (0, 0.5] (a length in the unit cube), got {c!r}")
        self.initial = int(initial)
        self.lr = float(lr)
        self.schedule = key
        self.method = meth
        self.c = float(c)

    # -- life cycle ----------------------------------------------------------------------------------------------

    def _prepare(self, history: Sequence[Trial]) -> None:
        """Reset, then replay the history through the state machine (or restart the descent from its best trial)."""
        self._floats = [n for n, d in self.space.items() if isinstance(d, Float)]
        finished = [t for t in history if t.state.finished]
        self._reset()
        for trial in finished:
            proposal = self._next(trial.number)
            if not self._matches(proposal.params, trial.params):
                break
            self._settle(trial)
        else:
            return
        # Not this strategy's own history (another strategy, another seed, an edited cell): start the descent afresh
        # from the best trial it holds.
        self._reset()
        self.n_asked = len(finished)
        for trial in finished:
            self._consider_start(trial)

    def ask(self, number: int) -> dict[str, Any]:
        return dict(self._next(number).params)

    def tell(self, trial: Trial) -> None:
        self._settle(trial)

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """During the descent a marker created at run time keeps the best trial's value (it has no gradient)."""
        if self._descending and self._start is not None:
            value = self._start.params.get(name, _MISSING)
            if value is not _MISSING and dim.contains(value):
                if name not in self.fixed:
                    self.fixed[name] = value
                    self.notes.append(f"{name!r} (created while the trial runs) is kept at the best trial's value")
                return value
        return super().sample_dynamic(trial, name, dim)

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        """For trials on other processes: during the descent, the best trial's values; else seeded draws."""
        if self._descending and self._start is not None:
            return _KeepValues(dict(self._start.params), SeededDynamic(self.seed))
        return super().dynamic_policy(trial)

    # -- state machine ---------------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.n_asked = 0
        self.notes: list[str] = []
        self.fixed: dict[str, Any] = {}
        self._descending = False
        self._start: Trial | None = None  # the best trial of the start phase
        self._center: _Point | None = None
        self._best: _Point | None = None
        self._queue: list[_Ask] = []
        self._outstanding: dict[int, _Ask] = {}  # by trial number
        self._gen = 0  # estimate generation: probes of an abandoned estimate are ignored
        self._probes: dict[tuple[int, int], tuple[np.ndarray, float]] = {}
        self._estimating = False
        self._t = 0
        self._k = 1.0
        self._c_scale = 1.0
        self._g0: float | None = None
        self._last_delta: np.ndarray | None = None
        self._last_len = math.inf
        self._said_waiting = False
        if not self._floats and len(self.space):
            self.notes.append(
                "no float parameters to descend on: every trial is a random draw, as with --strategy random"
            )

    def _next(self, number: int) -> _Ask:
        index = self.n_asked
        self.n_asked += 1
        if not self._descending and self._floats and index >= self.initial:
            if self._start is not None:
                self._begin_descent()
            elif not self._said_waiting:
                self._said_waiting = True
                self.notes.append(f"no trial succeeded in the first {self.initial}: still drawing at random")
        if not self._descending:
            ask = _Ask("random", index, self.space.sample(self.trial_rng(index)))
        else:
            if not self._queue:
                self._plan(index)
            ask = self._queue.pop(0) if self._queue else self._extra(index)
            ask.index = index
        self._outstanding[number] = ask
        return ask

    def _begin_descent(self) -> None:
        assert self._start is not None
        self._descending = True
        start = self._start
        for name, dim in self.space.items():
            if not isinstance(dim, Float):
                value = start.params.get(name, _MISSING)
                if value is _MISSING or not dim.contains(value):
                    value = dim.default if dim.default is not None else dim.from_unit(0.5)
                self.fixed[name] = _canonical(dim, value)
        u = self._unit(start.params)
        assert u is not None and start.value is not None
        self._center = _Point(u, self.sign * float(start.value), self._unit_grad(start), start.number)
        self._best = self._center
        floats = ", ".join(self._floats)
        if self.fixed:
            shown = ", ".join(f"{n}={v!r}" for n, v in self.fixed.items())
            self.notes.append(
                f"after {self.initial} random trials the integer and categorical parameters are fixed at the best "
                f"trial's values ({shown}); gradient descent tunes {floats} from trial {start.number}"
            )
        else:
            self.notes.append(
                f"after {self.initial} random trials gradient descent tunes {floats} from trial {start.number}"
            )

    def _plan(self, index: int) -> None:
        """Queue the next evaluations: a step if the current point's gradient is known, else its estimate."""
        center = self._center
        assert center is not None
        if any(a.kind == "center" for a in self._outstanding.values()) or self._estimating:
            return  # waiting for a result (parallel asks): the caller asks an extra point meanwhile
        if center.grad is not None:
            step = self._step(center.grad)
            if step is None:
                center.grad = center.line = None  # flat at this scale: look wider
                self._c_scale = min(self._c_scale * 2.0, 0.5 / self.c)
            else:
                u = np.clip(center.u + step, 0.0, 1.0)
                self._queue.append(_Ask("center", index, self._params(u), u, origin=center))
                return
        self._gen += 1
        self._probes = {}
        self._estimating = True
        c = self._c_t()
        d = len(self._floats)
        if self.method == "spsa":
            rng = self.trial_rng(index)
            delta = rng.choice([-1.0, 1.0], size=d)
            for _ in range(10):
                # One estimate sees one direction only: the same direction twice in a row would leave the others
                # unexplored (in two dimensions half the draws would), so redraw it.
                if d == 1 or self._last_delta is None or abs(float(delta @ self._last_delta)) < d:
                    break
                delta = rng.choice([-1.0, 1.0], size=d)
            self._last_delta = delta
            pairs = [(0, delta)]
        else:
            pairs = [(i, np.eye(d)[i]) for i in range(d)]
        for i, direction in pairs:
            for s in (1, -1):
                u = np.clip(center.u + s * c * direction, 0.0, 1.0)
                self._queue.append(_Ask("probe", index, self._params(u), u, self._gen, (i, s)))

    def _step(self, grad: np.ndarray) -> np.ndarray | None:
        """The step for a loss gradient: ``-k * lr_t * grad / g0``, at most ``0.1 * k`` long; None if it is zero."""
        norm = float(np.linalg.norm(grad))
        if norm == 0.0 or not math.isfinite(norm):
            return None
        if self._g0 is None:
            self._g0 = norm
        step = -self._k * self._lr_t() * grad / self._g0
        length, cap = float(np.linalg.norm(step)), _MAX_STEP * self._k
        return step * (cap / length) if length > cap else step

    def _extra(self, index: int) -> _Ask:
        """A point near the best one, for an ask that comes before the results the plan waits for."""
        assert self._best is not None
        rng = self.trial_rng(index)
        u = np.clip(self._best.u + rng.normal(0.0, self._c_t(), len(self._floats)), 0.0, 1.0)
        return _Ask("extra", index, self._params(u), u)

    def _settle(self, trial: Trial) -> None:
        ask = self._pop(trial)
        loss = None
        if trial.state is TrialState.COMPLETE and is_real(trial.value) and math.isfinite(trial.value):
            loss = self.sign * float(trial.value)
        if not self._descending:
            self._consider_start(trial)
            return
        if ask is None:
            return
        if loss is not None and ask.u is not None and (self._best is None or loss < self._best.loss):
            self._best = _Point(ask.u, loss, self._unit_grad(trial), trial.number)
        center = self._center
        assert center is not None
        if ask.kind == "center":
            assert ask.u is not None  # only the random start's asks have no point
            if loss is not None and loss < center.loss:
                self._center = _Point(ask.u, loss, self._unit_grad(trial), trial.number)
                if self._best is not None and self._best.number == trial.number:
                    self._best = self._center
                self._k *= _GROW
                self._t += 1
                self._last_len = float(np.linalg.norm(ask.u - center.u))
            else:
                self._back_to_best(self._backtrack(ask, loss))
        elif ask.kind == "probe" and ask.gen == self._gen and self._estimating:
            if loss is None:
                self._c_scale *= _SHRINK
                self._estimating = False
                self._back_to_best(_SHRINK)
                return
            assert ask.u is not None  # a probe always has its point
            self._probes[ask.tag] = (ask.u, loss)
            expected = 2 if self.method == "spsa" else 2 * len(self._floats)
            if len(self._probes) == expected:
                self._estimating = False
                center.grad = self._estimate()
                center.estimated = True

    def _backtrack(self, ask: _Ask, loss: float | None) -> float:
        """How much to shrink the step after ``ask``'s step did not improve: the minimum of a parabola along it.

        The parabola matches the loss and the slope at the step's origin and the loss where the step landed
        (backtracking with quadratic interpolation, Nocedal & Wright 3.5); the factor is kept within [0.1, 0.5]. A
        failed step, or one whose slope is unknown, halves.
        """
        origin = ask.origin
        if loss is None or origin is None or ask.u is None:
            return _SHRINK
        step = ask.u - origin.u
        length = float(np.linalg.norm(step))
        if length == 0.0:
            return _SHRINK
        direction = step / length
        if origin.line is not None:
            line, dloss = origin.line
            slope = dloss * float(line @ direction) / float(line @ line)
        elif origin.grad is not None:
            slope = float(origin.grad @ direction)
        else:
            return _SHRINK
        if slope >= 0:
            return _SHRINK
        curvature = 2.0 * (loss - origin.loss - slope * length) / length**2
        if curvature <= 0:
            return _SHRINK
        return min(max(-slope / curvature / length, 0.1), _SHRINK)

    def _back_to_best(self, factor: float) -> None:
        """A step that did not improve (or failed): shrink the step by ``factor`` and go on from the best point.

        On a smooth loss a true descent direction improves once the step is short enough. An estimated gradient
        measures the slope over the probes' distance, though, and can point the wrong way at a finer scale: once the
        step is shorter than that distance, the gradient is estimated again with probes half as far.
        """
        self._k = max(self._k * factor, 1e-6)
        self._queue.clear()
        best = self._best
        assert best is not None
        if self._center is not best:
            self._center = best
            self._estimating = False
        if best.grad is not None and best.estimated:
            step = self._step(best.grad)
            if step is None or float(np.linalg.norm(step)) < self._c_t():
                best.grad = best.line = None
                self._c_scale *= 0.5

    def _estimate(self) -> np.ndarray:
        """The loss gradient from the probes: the difference quotient along each probed direction."""
        d = len(self._floats)
        g = np.zeros(d)
        if self.method == "spsa":
            (u_plus, f_plus), (u_minus, f_minus) = self._probes[(0, 1)], self._probes[(0, -1)]
            diff = u_plus - u_minus
            nonzero = np.abs(diff) > 1e-12
            g[nonzero] = (f_plus - f_minus) / diff[nonzero]
            if float(diff @ diff) > 0:
                assert self._center is not None
                self._center.line = (diff, f_plus - f_minus)
        else:
            for i in range(d):
                (u_plus, f_plus), (u_minus, f_minus) = self._probes[(i, 1)], self._probes[(i, -1)]
                diff = u_plus[i] - u_minus[i]
                if abs(diff) > 1e-12:
                    g[i] = (f_plus - f_minus) / diff
        return g

    def _consider_start(self, trial: Trial) -> None:
        """Keep the best complete start-phase trial whose float values all lie in the space."""
        if trial.state is not TrialState.COMPLETE or not is_real(trial.value) or not math.isfinite(trial.value):
            return
        if self._unit(trial.params) is None:
            return
        if not all(self.space[n].contains(v) for n, v in trial.params.items() if n in self.space):
            return
        start = self._start
        if start is None or start.value is None or self.sign * trial.value < self.sign * start.value:
            self._start = trial

    def _pop(self, trial: Trial) -> _Ask | None:
        """The outstanding ask ``trial`` ran, by its number (parallel asks may be told in any order)."""
        return self._outstanding.pop(trial.number, None)

    # -- conversions -----------------------------------------------------------------------------------------------

    def _lr_t(self) -> float:
        if self.schedule == "1/sqrt":
            return self.lr / math.sqrt(self._t + 1)
        if self.schedule == "1/t":
            return self.lr / (self._t + 1)
        return self.lr

    def _c_t(self) -> float:
        """Perturbation size: Spall's slow decay, no more than twice the last accepted step, at least 0.001."""
        c = self.c * self._c_scale / (self._t + 1) ** _GAMMA
        return min(max(min(c, _C_TIE * self._last_len), _C_FLOOR), 0.5)

    def _params(self, u: np.ndarray) -> dict[str, Any]:
        coords = dict(zip(self._floats, u, strict=True))
        return {n: (d.from_unit(float(coords[n])) if n in coords else self.fixed[n]) for n, d in self.space.items()}

    def _unit(self, params: Mapping[str, Any]) -> np.ndarray | None:
        """Unit-cube coordinates of a trial's floats; None if one is missing or outside the space."""
        u = []
        for name in self._floats:
            dim, value = self.space[name], params.get(name, _MISSING)
            if value is _MISSING or not dim.contains(value):
                return None
            u.append(min(max(dim.to_unit(value), 0.0), 1.0))
        return np.array(u)

    def _unit_grad(self, trial: Trial) -> np.ndarray | None:
        """The trial's reported gradient as the loss gradient in unit-cube coordinates, or None.

        Chain rule: d loss/du = sign * d value/dx * dx/du, with ``dx/du = x * ln(high / low)`` on a log scale (``x``
        is exponential in ``u``) and ``high - low`` on a linear one. A gradient that misses a tuned parameter is not
        used (the estimate replaces it).
        """
        grad = trial.user_attrs.get("grad") if isinstance(trial.user_attrs, Mapping) else None
        if not isinstance(grad, Mapping):
            return None
        missing = [n for n in self._floats if not is_real(grad.get(n))]
        if missing:
            note = f"trial {trial.number} reported a gradient without {', '.join(missing)}: the gradient is estimated"
            if note not in self.notes:
                self.notes.append(note)
            return None
        g = []
        for name in self._floats:
            dim = self.space[name]
            assert isinstance(dim, Float)
            x = trial.params.get(name)
            if x is None or not dim.contains(x):
                return None
            dx_du = x * (math.log(dim.high) - math.log(dim.low)) if dim.log else dim.high - dim.low
            g.append(self.sign * float(grad[name]) * dx_du)
        out = np.array(g)
        return out if np.all(np.isfinite(out)) else None

    def _matches(self, proposed: Mapping[str, Any], used: Mapping[str, Any]) -> bool:
        """True if every static value the trial used is the proposed one (floats to rounding)."""
        for name, value in used.items():
            if name not in self.space:
                continue
            want = proposed.get(name, _MISSING)
            dim = self.space[name]
            if want is _MISSING or not dim.contains(value):
                return False
            if isinstance(dim, Float):
                if not math.isclose(float(want), float(value), rel_tol=1e-12, abs_tol=1e-300):
                    return False
            elif isinstance(dim, Int):
                if int(want) != int(value):
                    return False
            elif isinstance(dim, Categorical) and dim.index(want) != dim.index(value):
                return False
        return True


def _canonical(dim: Dimension, value: Any) -> Any:
    if isinstance(dim, Int):
        return int(value)
    if isinstance(dim, Categorical):
        i = dim.index(value)
        assert i is not None  # callers pass legal values only
        return dim.choices[i]
    return float(value)


class _KeepValues:
    """Run-time markers keep the given values where they are valid, else come from ``fallback``; picklable."""

    def __init__(self, values: dict[str, Any], fallback: DynamicPolicy) -> None:
        self.values, self.fallback = values, fallback

    def __call__(self, trial: Trial, name: str, dim: Dimension) -> Any:
        value = self.values.get(name, _MISSING)
        return value if value is not _MISSING and dim.contains(value) else self.fallback(trial, name, dim)
