"""Population based training (Jaderberg et al., 2017): train a population, copy the best, perturb their settings."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpmagic._checks import MAX_SIZE, check_int, is_int, is_real
from hpmagic.errors import OptionError
from hpmagic.schedulers._base import TrialRequest
from hpmagic.schedulers._segments import FAILED, SegmentScheduler, Standing
from hpmagic.space import Categorical, Dimension, Float, Int
from hpmagic.trial import Trial

__all__ = ["PBTScheduler", "pbt_schedule"]


@dataclass
class _Member:
    params: dict[str, Any]
    latest: int | None = None
    standing: Standing = FAILED


class PBTScheduler(SegmentScheduler):
    """Population based training over a resource range (``--budget MIN..MAX``, ``--population``, ``--interval``).

    A population of configurations trains in rounds of ``interval`` steps. Each member's segment is one trial that
    continues the member's previous one (``resume_from``), with a budget ``interval`` steps larger. Once every member
    has finished a round, the members in the bottom ``quantile`` (by the round's value; failed ones always) *exploit*:
    each copies a member of the top ``quantile`` (its next trial continues the donor's latest trial, so with
    ``--state`` it restores the donor's model) and *explores*: it perturbs the donor's hyperparameters. The others
    keep theirs. The study ends when the members reach the maximum resource (``is_exhausted``); with ``--state`` the
    whole study trains ``population * max`` steps, as many as ``population`` fixed configurations would.

    Explore, per hyperparameter: with probability ``resample_probability`` a fresh random value; otherwise a float or
    an integer is multiplied by one of the ``perturb`` factors (for a log-scale dimension a multiplication is a step
    in log space; an integer that rounding would leave unchanged moves by one), and a categorical keeps the donor's
    choice (an unordered choice has no neighbour to move to). Values are always clipped to the bounds.

    Members start from configurations ``trial_rng(0)``, ``trial_rng(1)``, ...: the very first trials of random search
    with the same seed, so ``--strategy random --trials P`` at the full budget is the same population without
    exploit and explore. Trials carry ``user_attrs`` ``{"member": m, "round": k}``, plus ``"donor": d`` when member
    ``m`` copied member ``d`` at the start of round ``k``; ``pbt_schedule(study)`` lists them per member.

    If the engine asks for a trial while every member is running (several trials at once), the population grows by
    a new random member, which joins the current round from scratch.

    Args:
        population: number of members.
        interval: steps per round (default: a tenth of the maximum resource, at least 1).
        quantile: fraction of the population replaced at each round (and the fraction that donates).
        resample_probability: chance that explore draws a hyperparameter afresh instead of perturbing it.
        perturb: the factors a perturbation multiplies a value by, one picked at random.
    """

    name = "pbt"
    ends_by_itself = True
    # Exploit and explore perturb the members' own configurations: PBT brings its own (random) sampler.
    takes_sampler = False
    tabs = ("pbt_schedule",)
    # Values of markers created at run time are not in the configurations that members copy and perturb.
    supports_dynamic = False

    def __init__(
        self,
        population: int = 8,
        interval: int | None = None,
        quantile: float = 0.25,
        resample_probability: float = 0.25,
        perturb: Sequence[float] = (0.8, 1.2),
    ) -> None:
        check_int("pbt: population", population, 2, MAX_SIZE)
        if interval is not None and (not is_int(interval) or interval < 1):
            raise OptionError(f"pbt: interval must be an integer >= 1 or None, got {interval!r}")
        if not is_real(quantile) or not 0 < quantile <= 0.5:
            raise OptionError(f"pbt: quantile must be a number in (0, 0.5], got {quantile!r}")
        if not is_real(resample_probability) or not 0 <= resample_probability <= 1:
            raise OptionError(f"pbt: resample_probability must be a number in [0, 1], got {resample_probability!r}")
        factors = tuple(perturb) if isinstance(perturb, Iterable) and not isinstance(perturb, str) else ()
        if not factors or not all(is_real(f) and math.isfinite(f) and f > 0 for f in factors):
            raise OptionError(f"pbt: perturb must be a non-empty list of positive factors, got {perturb!r}")
        self.population = int(population)
        self.interval = None if interval is None else int(interval)
        self.quantile = float(quantile)
        self.resample_probability = float(resample_probability)
        self.perturb = tuple(float(f) for f in factors)

    # -- schedule ------------------------------------------------------------------------------------------------------

    def _reset(self) -> None:
        step = self.interval if self.interval is not None else max(1, self.max_resource // 10)
        budgets = [min(self.max_resource, max(self.min_resource, step))]
        while budgets[-1] < self.max_resource:
            budgets.append(min(self.max_resource, budgets[-1] + step))
        #: The budget of each round: the steps every member has trained at its end.
        self.budgets = budgets
        self.members = [_Member(self.new_params(m)) for m in range(self.population)]
        self.round = 0
        self._queue: deque[TrialRequest] = deque(
            TrialRequest(dict(member.params), budget=budgets[0], attrs={"member": m, "round": 0})
            for m, member in enumerate(self.members)
        )
        self._told: set[int] = set()
        self._done = False
        self.n_exploits = 0

    def _key(self, attrs: dict[str, Any]) -> Hashable | None:
        if "member" in attrs and "round" in attrs:
            return (attrs["member"], attrs["round"])
        return None

    def _next_request(self, number: int) -> TrialRequest:
        if self._queue:
            return self._queue.popleft()
        # Every member is running (or the schedule is over): grow the population rather than make the engine wait.
        m = len(self.members)
        self.members.append(_Member(self.new_params(m)))
        k = min(self.round, len(self.budgets) - 1)
        return TrialRequest(dict(self.members[m].params), budget=self.budgets[k], attrs={"member": m, "round": k})

    def _record(self, request: TrialRequest, trial: Trial, standing: Standing) -> None:
        m, k = request.attrs["member"], request.attrs["round"]
        if m >= len(self.members):  # a member another run grew (its request came from the history)
            return
        member = self.members[m]
        member.latest = trial.number
        member.standing = standing
        if k != self.round or self._done:
            return
        self._told.add(m)
        if len(self._told) < len(self.members):
            return
        if self.round == len(self.budgets) - 1:
            self._done = True
            return
        self.round += 1
        self._told = set()
        self._queue.extend(self._next_round())

    def _next_round(self) -> list[TrialRequest]:
        """Exploit and explore: the requests of round ``self.round`` once the previous one has finished."""
        k, budget = self.round, self.budgets[self.round]
        rng = np.random.default_rng([self.seed, k, 0x504254])
        order = sorted(range(len(self.members)), key=lambda m: (self.members[m].standing, m))
        n_cut = max(1, int(len(self.members) * self.quantile))
        finite = [m for m in order if not self.members[m].standing.failed]
        donors = finite[:n_cut]
        losers = {m for m in order[-n_cut:] if m not in donors} | {m for m in order if m not in finite}
        # Each loser gets a donor; distinct donors while there are enough, so two clones rarely start alike.
        picks = list(rng.permutation(donors)) if donors else []
        requests = []
        for m in range(len(self.members)):
            member = self.members[m]
            attrs: dict[str, Any] = {"member": m, "round": k}
            if m not in losers:
                requests.append(TrialRequest(dict(member.params), budget, member.latest, attrs))
                continue
            if not picks and donors:
                picks = list(rng.permutation(donors))
            if not picks:  # every member failed: start this one afresh
                member.params = self.space.sample(rng)
                requests.append(TrialRequest(dict(member.params), budget, None, {**attrs, "restart": True}))
                continue
            d = int(picks.pop())
            member.params = self.explore(self.members[d].params, rng)
            self.n_exploits += 1
            requests.append(TrialRequest(dict(member.params), budget, self.members[d].latest, {**attrs, "donor": d}))
        return requests

    def is_exhausted(self) -> bool:
        """True once every member has finished the last round (at the maximum resource)."""
        return self._done and not self._ready and not self._pending

    # -- explore -------------------------------------------------------------------------------------------------------

    def explore(self, params: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """A perturbed copy of ``params``, within the space's bounds (see the class docstring)."""
        out = {}
        for name, dim in self.space.items():
            value = params.get(name)
            if not dim.contains(value) or rng.random() < self.resample_probability:
                out[name] = dim.sample(rng)
            elif isinstance(dim, Categorical):
                out[name] = value
            else:
                out[name] = _perturb(dim, value, self.perturb[int(rng.integers(len(self.perturb)))])
        return out


def _perturb(dim: Dimension, value: Any, factor: float) -> Any:
    if isinstance(dim, Int):
        moved = round(value * factor)
        if moved == value and factor != 1:
            moved = value + (1 if factor > 1 else -1)
        return int(min(max(moved, dim.low), dim.high))
    assert isinstance(dim, Float)
    return float(min(max(float(value) * factor, dim.low), dim.high))


def pbt_schedule(study: Any) -> dict[int, list[tuple[int, int, dict[str, Any], float | None]]]:
    """Each member's hyperparameter schedule: ``{member: [(round, step, params, value), ...]}``, by round.

    ``study`` is a Study (or any sequence of trials). ``step`` is the resource the member had reached at the end of
    the round (the largest step its trial reported, else its budget); ``value`` is None for a failed trial. A row
    whose trial copied another member shows in the trial's ``user_attrs["donor"]`` and ``["continues"]``.
    """
    trials = getattr(study, "trials", study)
    schedule: dict[int, list[tuple[int, int, dict[str, Any], float | None]]] = {}
    for trial in trials:
        attrs = trial.user_attrs
        if "member" not in attrs or "round" not in attrs or not trial.state.finished:
            continue
        step = attrs.get("resource", attrs.get("budget"))
        row = (int(attrs["round"]), int(step) if step is not None else 0, dict(trial.params), trial.value)
        schedule.setdefault(int(attrs["member"]), []).append(row)
    for rows in schedule.values():
        rows.sort(key=lambda row: row[0])
    return dict(sorted(schedule.items()))
