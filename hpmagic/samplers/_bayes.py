"""Bayesian optimisation with a Gaussian process from scikit-optimize, driven by our own loop (``_gp``).

The model lives in ``_gp``, imported in ``setup`` (with SciPy; scikit-optimize when the model first runs), not at
import time, so ``import hpmagic`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hpmagic._checks import MAX_SIZE, check_int
from hpmagic.constraints import MARGINS
from hpmagic.errors import OptionError
from hpmagic.samplers._base import Sampler
from hpmagic.space import Categorical, Dimension, Int, Space
from hpmagic.trial import Trial, TrialState

__all__ = ["BayesSampler"]

#: ParEGO's augmentation: a little of the weighted sum next to the Chebyshev maximum, so weakly dominated points
#: never tie with the points that dominate them.
_RHO = 0.05

logger = logging.getLogger(__name__)

_ACQ_FUNCS = {"gp_hedge": "gp_hedge", "ei": "EI", "lcb": "LCB", "pi": "PI"}
_PORTFOLIO = ("EI", "PI", "LCB")


class BayesSampler(Sampler):
    """Fits a Gaussian process to the finished trials and proposes the point that maximises an acquisition function.

    The first ``n_initial_points`` configurations come from a Latin hypercube design (every stratum of every
    dimension visited once, so a short start covers the space better than random draws); the design depends only on
    the seed and the number of points, so a resumed run continues it. After that every ask comes from the model:

    * inputs in the unit cube (log dimensions in the log domain, integers as slices, categoricals one-hot);
    * losses standardised after a power transform, so heavy-tailed objectives do not flatten the model;
    * a Matern-5/2 kernel with one length scale per input and a fitted noise level, its hyperparameters fitted as
      a MAP estimate under priors that keep length scales within about [0.1, 10] of the unit cube and the noise
      near a few thousandths of the variance (so ripples are read as noise, not chased). They are refitted at
      every ask up to ``refit_until`` observations, then only every ``refit_every`` trials, with just a Cholesky
      factorisation in between: an ask takes 50-80 ms at 200 trials, where skopt's ``tell`` takes seconds;
    * the acquisition (log expected improvement by default, counted from the best posterior mean at a tried point
      with a small margin, so that it does not polish one point forever) maximised over uniform candidates plus
      perturbations of the best points so far, the best few refined with L-BFGS-B, and never a configuration
      already tried or still running.

    When four trials in a row return values earlier trials already returned, bit for bit, the model is stuck on a
    plateau: it keeps proposing configurations that differ only by steps the metric cannot resolve (an error rate on
    a few hundred samples takes few values) or in parameters the objective ignores there. The next proposal is then
    the acquisition's best point at least half a length scale (in the model's own metric) from every tried point.
    On the eight scikit-learn benchmarks over 10 seeds this took bayes's mean regret at 40 and 100 evaluations from
    0.264 / 0.358 to 0.234 / 0.311; the uniform random draw it replaces wasted its trials in the worst regions.

    ``tell`` only records the trial; the model is fitted at the next ``ask``, for all trials told since.
    Failed trials are told as the worst loss seen so far, so the model steers away from regions that crash; a
    failure before any success waits until a first success gives it a value. Pruned trials are told with the value
    they reached. Proposals still running (parallel workers ask before earlier trials end) are added to the model at
    its predicted value, so the next proposal goes elsewhere. If the model fails, the trial is drawn at random:
    a study never crashes for a proposal, and the study's notes (with one warning) say how often that happened.

    Under a multi-fidelity scheduler (``--scheduler hyperband``: BOHB-style, or ``asha``) trials run at several
    budgets, and only that mode behaves differently (plain bayes proposes exactly what it did before):

    * one GP is fitted on every result, with log(budget) as an extra input (a simple continuous-fidelity model),
      and the acquisition is maximised at the largest budget seen. Cheap results inform the model without
      dictating it: where the best region moves with the budget (on the digits benchmark the best learning rate
      after 1 epoch is half the one after 27), the few results at large budgets decide, and their optimum is not
      outvoted by the many small ones. BOHB's own rule (Falkner et al., 2018: a model of the largest budget with
      enough results) fitted the first 1-epoch results and sent a whole bracket into one tiny region;
    * until results exist at two different budgets, new configurations are drawn at random after the initial
      design: a model of the smallest budget alone would rank them as successive halving is about to, so the two
      would compound the same low-budget error and the first bracket would train copies of one configuration.
      On ``make bench-mf`` these two changes took ``bayes + hyperband`` from a median 344 epochs (mean 311) to
      the target accuracy to 120 (mean 169) over 10 seeds; random + hyperband needs 102 (mean 190).

    Args:
        n_initial_points: design points (counting the history's) before the model takes over; by default
            ``max(5, 3 * dimensions)``, at most 3/8 of the study's budget and never more than 20 (on the
            benchmark problems a longer start found the right basin more often than it cost in refinement).
        acq_func: ``"EI"`` (log expected improvement), ``"PI"``, ``"LCB"`` or ``"gp_hedge"`` (a portfolio of the
            three, chosen by how well each one's past proposals turned out).
        n_candidates: uniform random points at which the acquisition is scored before local refinement.
        refit_until: observations up to which the kernel's hyperparameters are refitted at every ask.
        refit_every: past ``refit_until``, the hyperparameters are refitted once per this many new trials.
        pending: how trials still running (several in flight) enter the model: ``"believer"`` at the value the model
            predicts for them (kriging believer), ``"liar"`` at the best value seen so far (constant liar, CL-min), or
            ``"auto"``: the believer while at most two trials run, the liar beyond (measured with ``make
            bench-parallel``: at 2 in flight the believer did better, at 4 the liar; the liar's optimism spreads a
            larger batch where the believer's predictions keep it near the incumbent).
        multi_objective: how several objectives are modelled: ``"ehvi"``, one GP per objective and the point of
            largest expected hypervolume improvement (exact, see ``_ehvi``); ``"parego"``, one GP per ask on a random
            weighted Chebyshev scalarisation (Knowles, 2006); ``"auto"``, EHVI for two or three objectives and
            ParEGO for more (measured with ``make bench-mo``).
    """

    name = "bayes"
    supports_dynamic = True
    tabs = ("partial_dependence",)

    def __init__(
        self,
        n_initial_points: int | None = None,
        acq_func: str = "EI",
        n_candidates: int = 2000,
        refit_until: int = 40,
        refit_every: int = 5,
        pending: str = "auto",
        multi_objective: str = "auto",
    ) -> None:
        if pending not in ("auto", "believer", "liar"):
            raise OptionError(f"pending must be 'auto', 'believer' or 'liar', got {pending!r}")
        self.pending = pending
        if multi_objective not in ("auto", "ehvi", "parego"):
            raise OptionError(f"multi_objective must be 'auto', 'ehvi' or 'parego', got {multi_objective!r}")
        self.multi_objective = multi_objective
        if n_initial_points is not None:
            n_initial_points = check_int("n_initial_points", n_initial_points, 1, MAX_SIZE)
        key = acq_func.lower() if isinstance(acq_func, str) else None
        if key not in _ACQ_FUNCS:
            raise OptionError(f"unknown acq_func {acq_func!r}; choose one of: EI, PI, LCB, gp_hedge")
        self.n_initial_points = n_initial_points
        self.acq_func = _ACQ_FUNCS[key]
        self.n_candidates = check_int("n_candidates", n_candidates, 1, MAX_SIZE)
        self.refit_until = check_int("refit_until", refit_until, 0)
        self.refit_every = check_int("refit_every", refit_every)

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        """Prepare the encoding and queue the history, which the first model ask fits in one go."""
        super().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=history)
        from hpmagic.samplers._gp import Encoding, require_skopt

        require_skopt()  # a missing scikit-optimize is an error now, not trials labelled "bayes" drawn at random

        # Dimensions with a single choice are constants: the model gains nothing from them.
        self._names = [n for n, d in space.items() if not (isinstance(d, Categorical) and len(d.choices) == 1)]
        self._enc = Encoding([space[n] for n in self._names])
        self._fillers = {n: _filler(space[n]) for n in self._names}
        self._filler_u = self._enc.snap(self._enc.encode([self._fillers[n] for n in self._names])[None, :])[0]
        # A cell's branches: which parameters trials reached and which they never did, by the values they reached of
        # the dimensions that may gate a branch, first the choices, then every discrete dimension (see
        # ``_impute_unreached``): per gate set, {reached gate dimensions: {their u values: (unreached, reached)}}.
        self._gates = [
            [i for i, name in enumerate(self._names) if isinstance(space[name], kinds)]
            for kinds in (Categorical, (Categorical, Int))
        ]
        self._branches: list[dict[tuple[int, ...], dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]]]] = [
            {} for _ in self._gates
        ]
        self._branched = False  # some trial left a parameter unreached: candidates need ``_impute_unreached``
        self._n_init = self._initial_points(len(self._names), n_trials)
        self._design: np.ndarray | None = None
        self._u: list[np.ndarray] = []
        self._y: list[float] = []
        self._budgets: list[int | None] = []
        # Several objectives (ParEGO): each complete point's losses, and the weights the current ask scalarises with.
        self._vectors: dict[tuple[float, ...], np.ndarray] = {}
        self._weights: np.ndarray | None = None
        self._objective_models: list[Any] = []  # EHVI: one GP per objective
        self._seen: set[tuple[float, ...]] = set()
        self._outstanding: dict[int, np.ndarray] = {}  # by trial number
        self._failed_waiting: list[tuple[np.ndarray, int | None]] = []
        self._warned = False
        # Plateaus: the outcomes seen, and how many trials in a row returned one of them (since the last escape).
        self._outcomes_seen: set[Any] = set()
        self._ties = 0
        #: Asks sent away from the tried points because the last trials kept returning values seen before
        #: (see ``_stalled``).
        self.n_plateau_escapes = 0
        self._worst: float | None = None
        self._model: Any = None
        self._n_at_fit = 0
        # Constraints: each complete trial's margins (one per constraint) and which trials were feasible.
        self._c_u: list[np.ndarray] = []
        self._c_margins: list[list[float]] = []
        self._feasible: set[tuple[float, ...]] = set()
        self._feasibility: Any = None
        self._hedge_gains = np.zeros(len(_PORTFOLIO))
        self._hedge_last: np.ndarray | None = None
        #: Asks answered at random because the model failed or had no new point to offer (for tests and logs).
        self.n_fallbacks = 0
        #: Asks answered by the model.
        self.n_model_asks = 0
        for trial in history:
            self._record(trial)

    def _initial_points(self, d: int, n_trials: int | None) -> int:
        if self.n_initial_points is not None:
            return self.n_initial_points
        from hpmagic.samplers import _gp

        n = min(max(5, _gp.INIT_PER_DIM * d), 20)
        if n_trials:
            n = min(n, max(3, int(n_trials * _gp.INIT_FRACTION)))
        return n

    @property
    def n_hyper_fits(self) -> int:
        """How many times the kernel's hyperparameters were fitted (the rest of the asks only refactorised)."""
        return 0 if self._model is None else self._model.n_hyper_fits

    def ask(self, number: int) -> dict[str, Any]:
        u = None
        stalled = False
        if self._names:
            if self._model_ready():
                stalled = self._stalled()
                u = self._ask_model(leave_plateau=stalled)
            elif self.n_asked < self._n_init:
                u = self._design_point(self.n_asked)
        self.n_asked += 1
        if u is None:
            rng = self.trial_rng(self.n_asked - 1)
            params = self._likely_feasible_draw(rng) if stalled else self.space.sample(rng)
            u = self._encode(params) if self._names else None
        else:
            params = self._decode(u)
        if u is not None:
            self._outstanding[number] = u
        return params

    def tell(self, trial: Trial) -> None:
        """Record the trial for the next fit; cheap, as the loop calls it once per trial."""
        self._record(trial)

    # -- internals ----------------------------------------------------------------------------------------------

    def _design_point(self, index: int) -> np.ndarray:
        """Point ``index`` of the initial design (a random design should SciPy fail to build one)."""
        from hpmagic.samplers._gp import initial_design

        if self._design is None:
            try:
                design = initial_design(self._enc.d, self._n_init, [self.seed, 0x1A7])
            except Exception:  # noqa: BLE001 - never crash a study for its start
                logger.debug("bayes: no initial design; drawing at random", exc_info=True)
                design = np.random.default_rng([self.seed, 0x1A7]).random((self._n_init, self._enc.d))
            self._design = self._enc.snap(design)
        return self._design[index]

    def _record(self, trial: Trial) -> None:
        self._outstanding.pop(trial.number, None)
        if not self._names or not trial.state.finished:
            return
        u = self._encode(trial.params)
        if u is None:
            return
        self._note_branch(trial.params, u)
        budget = trial.user_attrs.get("budget")
        budget = int(budget) if isinstance(budget, numbers.Integral) else None
        value = trial.value
        if value is not None and isinstance(value, numbers.Real) and math.isfinite(value):
            self._record_constraints(trial, u)
            loss = self.sign * float(value)
            several = self.objectives is not None and self.objectives.several and trial.values is not None
            outcome = tuple(trial.values) if several else loss  # several objectives: a repeat repeats them all
            self._ties = self._ties + 1 if outcome in self._outcomes_seen else 0
            self._outcomes_seen.add(outcome)
            self._worst = loss if self._worst is None else max(self._worst, loss)
            self._push(u, loss, budget)
            self._remember_losses(trial, u)
            for waiting, at in self._failed_waiting:
                self._push(waiting, self._worst, at)
            self._failed_waiting.clear()
        elif self._worst is not None:
            # A failure counts as the worst loss so far (never NaN): the model avoids the region.
            self._push(u, self._worst, budget)
        else:
            self._failed_waiting.append((u, budget))

    def _note_branch(self, params: Mapping[str, Any], u: np.ndarray) -> None:
        """Remember which parameters a trial reached, under the choices and under the discrete values it reached."""
        reached = np.array([name in params for name in self._names])
        self._branched = self._branched or not reached.all()
        for gates, table in zip(self._gates, self._branches, strict=True):
            dims = tuple(i for i in gates if reached[i])
            unreached, seen_reached = table.setdefault(dims, {}).setdefault(
                tuple(np.round(u[list(dims)], 9)), (np.zeros(len(reached), bool), np.zeros(len(reached), bool))
            )
            unreached |= ~reached
            seen_reached |= reached

    def _impute_unreached(self, u: np.ndarray) -> np.ndarray:
        """Candidates with the parameters their branch of the cell never reaches set to the fillers trials record there.

        In a cell like ``if kind == "svc": C = tune.loguniform(...)``, a trial of another kind never reaches C and is
        recorded with C's filler. A candidate does not reach a parameter when the trials that made its choices never
        reached it (or, if those disagree, as after ``if layers > 1``, the trials with all its discrete values).
        Without this, candidates that differ from a tried point only where their branch does not look seemed new to
        the model, and the study re-ran one configuration over and over. Evidence that still disagrees (a branch on a
        float) leaves the candidate as it is.
        """
        if not self._branched:
            return u
        unreachable = np.zeros(u.shape, dtype=bool)
        for table in self._branches:
            unreached_by = np.zeros(u.shape, dtype=bool)
            reached_by = np.zeros(u.shape, dtype=bool)
            for dims, by_values in table.items():
                values, which = np.unique(np.round(u[:, list(dims)], 9), axis=0, return_inverse=True)
                for j, row in enumerate(map(tuple, values)):
                    entry = by_values.get(row)
                    if entry is not None:
                        rows = which.ravel() == j
                        unreached_by[rows] |= entry[0]
                        reached_by[rows] |= entry[1]
            unreachable |= unreached_by & ~reached_by
        return np.where(unreachable, self._filler_u[None, :], u)

    def _record_constraints(self, trial: Trial, u: np.ndarray) -> None:
        """Keep a complete trial's constraint margins for the feasibility model (its violations if no margins)."""
        if trial.violations is None or trial.state is not TrialState.COMPLETE:
            return
        margins = trial.user_attrs.get(MARGINS) or trial.violations
        if self._c_margins and len(margins) != len(self._c_margins[0]):
            return  # a trial of another study (--warm-from) with other constraints
        self._c_u.append(u)
        self._c_margins.append([float(m) for m in margins])
        if trial.feasible:
            self._feasible.add(_key(u))

    def _feasibility_weight(self, refit: bool) -> tuple[Any, np.ndarray | None]:
        """The feasibility model's log probability (None without constraints) and, per model observation, whether
        it was feasible."""
        if not self._c_margins:
            return None, None
        from hpmagic.samplers._feasibility import FeasibilityModel

        x = self._enc.features(np.array(self._c_u))
        self._feasibility = FeasibilityModel(x, np.array(self._c_margins), self._feasibility, refit=refit)
        feasible = np.array([_key(u) in self._feasible for u in self._model_data()[0]])
        return self._feasibility.log_weight, feasible

    def feasibility(self, params: Mapping[str, Any]) -> float | None:
        """The model's probability that ``params`` satisfy every constraint (None before it has been fitted)."""
        u = self._encode(params)
        if self._feasibility is None or u is None:
            return None
        return float(self._feasibility.probability(self._enc.features(u[None, :]))[0])

    def _push(self, u: np.ndarray, loss: float, budget: int | None = None) -> None:
        self._u.append(u)
        self._y.append(loss)
        self._budgets.append(budget)
        self._seen.add(_key(u))

    def _remember_losses(self, trial: Trial, u: np.ndarray) -> None:
        """A multi-objective study's complete trial: keep every objective as a loss, for the scalarisations."""
        objectives = self.objectives
        if objectives is None or not objectives.several or trial.values is None:
            return
        if len(trial.values) == len(objectives.names) and all(math.isfinite(v) for v in trial.values):
            self._vectors[_key(u)] = np.array(
                [d.sign * v for d, v in zip(objectives.directions, trial.values, strict=True)]
            )

    def _uses_ehvi(self) -> bool:
        """Several objectives modelled one GP each, scored by expected hypervolume improvement: with ``"auto"``
        for two and three objectives, where it found more hypervolume than ParEGO on ``make bench-mo``; beyond, the
        box decomposition grows as the front's size to the power M-1. Never under a multi-fidelity scheduler (its
        model takes one scalar loss with the budget as an input)."""
        objectives = self.objectives
        if objectives is None or not objectives.several or not self._vectors or self._multi_fidelity():
            return False
        if self.multi_objective == "auto":
            return len(objectives.names) <= 3
        return self.multi_objective == "ehvi"

    def _draw_weights(self) -> None:
        """ParEGO (Knowles, 2006): each model ask optimises another random weighting of the objectives, so the
        proposals spread along the Pareto front instead of piling up at one end."""
        objectives = self.objectives
        if objectives is None or not objectives.several or not self._vectors or self._uses_ehvi():
            self._weights = None
            return
        rng = np.random.default_rng([self.seed, self.n_asked, 0x9A8E])
        self._weights = rng.dirichlet(np.ones(len(objectives.names)))

    def _scalarised(self) -> list[float]:
        """Each observation's augmented Chebyshev loss under the current weights: ``max_j w_j f_j + 0.05 sum_j
        w_j f_j`` over objectives normalised to [0, 1] by the observed range; a failed point counts as the worst."""
        assert self._weights is not None
        known = [self._vectors.get(_key(u)) for u in self._u]
        matrix = np.array([v for v in known if v is not None])
        low, span = matrix.min(axis=0), np.ptp(matrix, axis=0)
        span[span == 0] = 1.0
        weighted = self._weights * (matrix - low) / span
        scores = iter(weighted.max(axis=1) + _RHO * weighted.sum(axis=1))
        values = [float(next(scores)) if v is not None else math.nan for v in known]
        worst = max(v for v in values if not math.isnan(v))
        return [worst if math.isnan(v) else v for v in values]

    def _multi_fidelity(self) -> bool:
        """Whether trials carry budgets (a multi-fidelity scheduler): the only mode the ``MF_*`` knobs change."""
        return any(b is not None for b in self._budgets)

    def _model_ready(self) -> bool:
        """Enough results for the model: ``n_initial_points``, and under a multi-fidelity scheduler results at
        ``MF_MIN_BUDGETS`` different budgets."""
        from hpmagic.samplers import _gp

        if len(self._model_data()[1]) < self._n_init:
            return False
        if not self._multi_fidelity():
            return True
        return len({b for b in self._budgets if b is not None}) >= _gp.MF_MIN_BUDGETS

    def _model_data(self) -> tuple[list[np.ndarray], list[float]]:
        """The observations the model is fitted on: all of them (budgets, if any, become an input).

        With ``MF_BUDGET_INPUT`` off, BOHB's rule instead: the results of the largest budget with enough of them for a
        model; until one has, the smallest-budget results, which are the most numerous.
        """
        from hpmagic.samplers import _gp

        if self._weights is not None:
            return self._u, self._scalarised()  # several objectives: this ask's scalarisation, every budget
        budgets = {b for b in self._budgets if b is not None}
        if not budgets or _gp.MF_BUDGET_INPUT:
            return self._u, self._y
        enough = max(self._n_init, len(self._names) + 1)
        counts = {b: self._budgets.count(b) for b in budgets}
        ready = [b for b in budgets if counts[b] >= enough]
        chosen = max(ready) if ready else max(budgets, key=lambda b: (counts[b], -b))
        keep = [i for i, b in enumerate(self._budgets) if b == chosen or b is None]
        return [self._u[i] for i in keep], [self._y[i] for i in keep]

    def _ask_model(self, leave_plateau: bool = False) -> np.ndarray | None:
        """The model's proposal, or None to fall back to a random point (noted, with one warning).

        ``leave_plateau``: the proposal keeps ``STALL_REACH`` length scales from every tried point (None, for a random
        draw, if that is 0).
        """
        from hpmagic.samplers import _gp

        if leave_plateau and not _gp.STALL_REACH:
            return None
        self._draw_weights()
        try:
            with quiet_single_threaded():
                u = self._propose(_gp.STALL_REACH if leave_plateau else 0.0)
        except Exception:  # noqa: BLE001
            # scikit-learn/SciPy can fail on degenerate data. A study must not crash for the sake of one proposal:
            # this trial is drawn at random instead.
            logger.debug("bayes: the model could not propose a point; using a random one", exc_info=True)
            self._fell_back()
            return None
        if u is None:  # every candidate was tried already (a small discrete space): a random point is as good
            self.n_fallbacks += 1
            return None
        self.n_model_asks += 1
        return u

    def _stalled(self) -> bool:
        """Whether this ask leaves a plateau: the last ``STALL_TIES`` trials each returned, bit for bit, a value an
        earlier trial had. The model is then re-running configurations that differ only where the objective does not
        look: steps finer than a quantised metric resolves (an error rate on a few hundred samples), or parameters the
        chosen branch ignores (a flat space with a choice of model). The count restarts after each escape. Not under
        a multi-fidelity scheduler, which re-runs configurations on purpose."""
        from hpmagic.samplers import _gp

        if not _gp.STALL_TIES or self._ties < _gp.STALL_TIES or self._multi_fidelity():
            return False
        self._ties = 0
        self.n_plateau_escapes += 1
        note = (
            f"{self.n_plateau_escapes} trial(s) sent away from the tried points to leave a plateau "
            "(values seen before kept coming back)"
        )
        self.notes[:] = [n for n in self.notes if "to leave a plateau" not in n] + [note]
        return True

    def _likely_feasible_draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """A random draw to leave a plateau (when the model cannot propose, or ``STALL_REACH`` is 0); with
        constraints, the one of 32 the feasibility model finds most likely feasible, so leaving a plateau does not
        mean leaving the feasible region."""
        if self._feasibility is None:
            return self.space.sample(rng)
        draws = [self.space.sample(rng) for _ in range(32)]
        u = np.array([self._enc.encode([p[name] for name in self._names]) for p in draws])
        return draws[int(np.argmax(self._feasibility.probability(self._enc.features(u))))]

    def _fell_back(self) -> None:
        """Say, once per run with a warning and in the notes with a count, that asks were answered at random."""
        self.n_fallbacks += 1
        note = f"the Gaussian process could not propose {self.n_fallbacks} time(s): those trials were drawn at random"
        self.notes[:] = [n for n in self.notes if not n.startswith("the Gaussian process could not")] + [note]
        if not self._warned:
            self._warned = True
            warnings.warn(f"hpmagic bayes: {note} (see the study's notes)", RuntimeWarning, stacklevel=3)

    def _propose(self, reach: float) -> np.ndarray | None:
        from hpmagic.samplers import _gp
        from hpmagic.samplers._gp import GPModel, acquisition, optimize_acquisition, warp_losses

        if self._uses_ehvi():
            return self._propose_ehvi(reach)
        enc = self._enc
        data_u, data_y = self._model_data()
        u_seen = np.array(data_u)
        y = warp_losses(np.array(data_y))
        x = enc.features(u_seen)
        multi = self._multi_fidelity()
        z_top = 0.0
        if multi and _gp.MF_BUDGET_INPUT:
            x, z_top = np.hstack([x, self._budget_feature()[:, None]]), 1.0
        if self._model is None or self._model.n_features != x.shape[1]:
            self._model = GPModel(x.shape[1])
        n = len(y)
        refit = self._refit_due(self._model, n)
        # Past refit_until, a refit starts from the previous hyperparameters only: they moved little since.
        self._model.fit(x, y, optimize=refit, restart=n <= self.refit_until)
        model = self._model
        if multi:
            return self._propose_multi_fidelity(x, y, u_seen, z_top)
        if self._hedge_last is not None:
            # gp_hedge: each acquisition is rewarded by how good the model now thinks its last proposal was.
            self._hedge_gains -= model.predict(self._hedge_last)[0]
            self._hedge_last = None
        if self._outstanding:
            # Trials still running count at their predicted value ("kriging believer"): uncertainty there drops,
            # so the next proposal looks elsewhere.
            pending = np.array(list(self._outstanding.values()))
            liar = self.pending == "liar" or (self.pending == "auto" and len(pending) > 2)
            if liar:  # constant liar: each running trial pretends to be as good as the best
                believed = np.full(len(pending), float(y.min()))
            else:
                believed = model.predict(enc.features(pending))[0]
            model.fit(np.vstack([x, enc.features(pending)]), np.concatenate([y, believed]), optimize=False)
        log_feasible, feasible = self._feasibility_weight(refit)
        at = feasible if feasible is not None and feasible.any() else np.ones(len(y), dtype=bool)
        best = float(y[at].min())
        if _gp.PLUGIN_BEST:
            # With a fitted noise level, the best observation is partly luck: improvement is measured from the
            # best the model believes in (the lowest posterior mean at a tried point; a feasible one if any).
            best = float(model.predict(x)[0][at].min())
        y_local = y
        if feasible is not None:
            # Constrained EI: improvement over the best feasible trial, times P(feasible); local candidates grow
            # around the best feasible trials. Before any trial is feasible, P(feasible) alone: find the region.
            y_local = np.where(feasible, y, y.max() + 1.0) if feasible.any() else y
        rng = np.random.default_rng([self.seed, self.n_asked, 7])
        exclude = self._seen | {_key(u) for u in self._outstanding.values()}
        names = _PORTFOLIO if self.acq_func == "gp_hedge" else (self.acq_func,)
        if feasible is not None and not feasible.any():
            names = ("FEASIBLE",)
        proposals = []
        for name in names:
            u = optimize_acquisition(
                model,
                enc,
                _nothing if name == "FEASIBLE" else functools.partial(acquisition, name, best=best),
                u_seen,
                y_local,
                rng,
                n_candidates=self.n_candidates,
                exclude=exclude,
                log_weight=log_feasible,
                reach=reach,
                impute=self._impute_unreached,
            )
            if u is None:
                return None
            proposals.append(u)
        if len(proposals) == 1:
            return proposals[0]
        p = np.exp(self._hedge_gains - self._hedge_gains.max())
        choice = int(rng.choice(len(proposals), p=p / p.sum()))
        self._hedge_last = enc.features(np.array(proposals))
        return proposals[choice]

    def _propose_ehvi(self, reach: float) -> np.ndarray | None:
        """Several objectives: one GP per objective (each on its warped losses), and the point of largest expected
        hypervolume improvement over the observed front (of feasible trials, if any; times P(feasible) when
        the study has constraints). A failed trial counts as the worst value seen of every objective."""
        from hpmagic.pareto import nondominated_ranks
        from hpmagic.samplers._ehvi import Boxes, Independent, log_ehvi, reference_point
        from hpmagic.samplers._gp import GPModel, optimize_acquisition, warp_losses

        enc = self._enc
        known = [self._vectors.get(_key(u)) for u in self._u]
        worst = np.max([v for v in known if v is not None], axis=0)
        losses = np.array([worst if v is None else v for v in known])
        warped = np.column_stack([warp_losses(column) for column in losses.T])
        u_seen = np.array(self._u)
        x = enc.features(u_seen)
        n, n_objectives = warped.shape
        if len(self._objective_models) != n_objectives or self._objective_models[0].n_features != x.shape[1]:
            self._objective_models = [GPModel(x.shape[1]) for _ in range(n_objectives)]
        models = self._objective_models
        refit = self._refit_due(models[0], n)
        for model, column in zip(models, warped.T, strict=True):
            model.fit(x, column, optimize=refit, restart=n <= self.refit_until)
        joint = Independent(models)
        log_feasible, feasible = self._feasibility_weight(refit)
        at = feasible if feasible is not None and feasible.any() else np.ones(n, dtype=bool)
        front = warped[at]
        reference = reference_point(warped, front)
        if self._outstanding:
            # Running trials count as achieving what the models predict (kriging believer): the next proposal
            # looks for volume elsewhere.
            pending = enc.features(np.array(list(self._outstanding.values())))
            believed = joint.predict(pending)[0]
            for j, model in enumerate(models):
                model.fit(np.vstack([x, pending]), np.concatenate([warped[:, j], believed[:, j]]), optimize=False)
            front = np.vstack([front, believed])
        boxes = Boxes(front, reference)
        rng = np.random.default_rng([self.seed, self.n_asked, 7])
        # Local candidates grow around random members of the front (feasible ones, if any).
        y_local = nondominated_ranks(warped) + 0.5 * rng.random(n)
        if feasible is not None and feasible.any():
            y_local = np.where(feasible, y_local, y_local.max() + 1.0)
        none_feasible = feasible is not None and not feasible.any()
        return optimize_acquisition(
            joint,
            enc,
            _nothing if none_feasible else functools.partial(log_ehvi, boxes),
            u_seen,
            y_local,
            rng,
            n_candidates=self.n_candidates,
            exclude=self._seen | {_key(u) for u in self._outstanding.values()},
            log_weight=log_feasible,
            reach=reach,
            impute=self._impute_unreached,
        )

    def _refit_due(self, model: Any, n: int) -> bool:
        """Whether this ask refits the kernel's hyperparameters (then noted as done at ``n`` observations): the
        first fit, every ask up to ``refit_until`` observations, then once per ``refit_every`` new ones."""
        due = model.n_hyper_fits == 0 or n <= self.refit_until or n - self._n_at_fit >= self.refit_every
        if due:
            self._n_at_fit = n
        return due

    def _budget_feature(self) -> np.ndarray:
        """log(budget) of every observation scaled to [0, 1] over the budgets seen (0 while there is only one)."""
        seen = [b for b in self._budgets if b is not None]
        lo, hi = math.log(min(seen)), math.log(max(seen))
        logs = np.array([math.log(b) if b is not None else hi for b in self._budgets])
        return (logs - lo) / (hi - lo) if hi > lo else np.zeros(len(logs))

    def _propose_multi_fidelity(
        self, x: np.ndarray, y: np.ndarray, u_seen: np.ndarray, z_top: float
    ) -> np.ndarray | None:
        """A proposal under a multi-fidelity scheduler: the model scored at the largest budget seen."""
        from hpmagic.samplers import _gp
        from hpmagic.samplers._gp import AtBudget, acquisition, optimize_acquisition

        enc = self._enc
        model: Any = AtBudget(self._model, z_top) if _gp.MF_BUDGET_INPUT else self._model
        if self._outstanding:
            pending = enc.features(np.array(list(self._outstanding.values())))
            if _gp.MF_BUDGET_INPUT:
                pending = np.hstack([pending, np.full((len(pending), 1), z_top)])
            believed = self._model.predict(pending)[0]
            self._model.fit(np.vstack([x, pending]), np.concatenate([y, believed]), optimize=False)
        # Seen points ranked by the model's belief at the top budget (their own losses mix budgets).
        at_top = model.predict(enc.features(u_seen))[0]
        rng = np.random.default_rng([self.seed, self.n_asked, 7])
        exclude = self._seen | {_key(u) for u in self._outstanding.values()}
        best = float(at_top.min())
        return optimize_acquisition(
            model,
            enc,
            functools.partial(acquisition, self.acq_func if self.acq_func != "gp_hedge" else "EI", best=best),
            u_seen,
            at_top,
            rng,
            n_candidates=self.n_candidates,
            exclude=exclude,
            impute=self._impute_unreached,
        )

    def _encode(self, params: Mapping[str, Any]) -> np.ndarray | None:
        """A trial's params in u-space; None if a value lies outside the space or no dimension is present.

        Conditional parameters the trial never reached take a neutral filler value; their value did not matter.
        """
        values = []
        present = 0
        for name in self._names:
            if name not in params:
                values.append(self._fillers[name])
                continue
            dim, value = self.space[name], params[name]
            if not dim.contains(value):
                return None
            present += 1
            values.append(value)
        if not present:
            return None
        return self._enc.snap(self._enc.encode(values)[None, :])[0]

    def _decode(self, u: np.ndarray) -> dict[str, Any]:
        by_name = dict(zip(self._names, self._enc.decode(u), strict=True))
        return {name: by_name[name] if name in by_name else _only_choice(dim) for name, dim in self.space.items()}


def _nothing(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """No improvement term: the acquisition is the probability of feasibility alone."""
    return np.zeros(len(mean))


def _only_choice(dim: Dimension) -> Any:
    """The value of a dimension the model leaves out: a categorical with a single choice."""
    assert isinstance(dim, Categorical)
    return dim.choices[0]


def _key(u: np.ndarray) -> tuple[float, ...]:
    return tuple(np.round(u, 12).tolist())


def _filler(dim: Dimension) -> Any:
    """The value used for a parameter a trial never reached: its default, else the middle, else choice 0."""
    if isinstance(dim, Categorical):
        return dim.default if dim.default is not None else dim.choices[0]
    value = dim.default if dim.default is not None else dim.from_unit(0.5)
    return int(value) if isinstance(dim, Int) else float(value)


@contextlib.contextmanager
def quiet_single_threaded() -> Iterator[None]:
    """Silence scikit-learn's and SciPy's warnings (convergence, ill-conditioning) and run BLAS on one thread.

    On two cores, multithreaded BLAS next to a busy process ran hundreds of times slower (measured on the CI machines).
    """
    with warnings.catch_warnings(), _thread_pools().limit(limits=1), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@functools.cache
def _thread_pools() -> Any:
    """The process's BLAS/OpenMP thread pools, found once: looking them up scans the loaded libraries (4 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
