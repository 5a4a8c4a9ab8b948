"""Steady-state evolution: tournament selection, uniform crossover and type-aware mutation over mixed spaces.

Follows regularized ("aging") evolution (Real et al., 2019, "Regularized Evolution for Image Classifier Architecture
Search"): each new trial is a mutated copy of a tournament winner, and the population is the most recent trials, so
a configuration that scored well by luck cannot stay in the population for ever.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpmagic._checks import MAX_SIZE, check_int, is_int, is_real
from hpmagic.errors import OptionError
from hpmagic.samplers._base import DynamicPolicy, Sampler, stable_hash
from hpmagic.space import Categorical, Dimension, Float, Int
from hpmagic.trial import Trial, TrialState

__all__ = ["EvolutionSampler"]

# Extra draws when a new configuration equals one already tried (a repeat wastes a trial on a known answer).
_RETRIES = 10
_GAP = object()


@dataclass(frozen=True)
class _Member:
    """A complete trial in the population: ``order`` counts complete trials, so it is the member's age."""

    order: int
    loss: float
    params: dict[str, Any]
    violation: float = 0.0  # total constraint violation (0 when feasible or without constraints)

    @property
    def rank(self) -> tuple[float, float, int]:
        """Constrained tournament order (Deb 2000): feasible before infeasible, less violation before more, then
        the lower loss, then the older member."""
        return (self.violation, self.loss, self.order)


@dataclass(frozen=True)
class _Proposal:
    """An ask not told yet, with what its markers created at run time inherit.

    ``genes`` are the parents' values of parameters outside the static space (markers in loops or under
    conditions); ``mutate`` names those of them chosen for mutation. ``index`` seeds their random draws.
    """

    index: int
    params: dict[str, Any]
    genes: dict[str, Any]
    mutate: frozenset[str]


class EvolutionSampler(Sampler):
    """Evolves a population of configurations, one child per trial (steady state).

    The first ``population`` asks are random draws (the very draws ``RandomSampler`` makes with the same seed), so
    the population starts diverse. After that each ask:

    1. picks a parent by tournament: ``tournament`` members drawn at random, the best of them wins. Larger
       tournaments select harder (exploit), smaller ones keep diversity. In a study with constraints the
       tournament is constrained (Deb, 2000): a feasible member beats an infeasible one, and of two infeasible
       members the one with less total violation wins, so the population drifts into the feasible region;
    2. with probability ``crossover_rate`` picks a second parent the same way and mixes the two gene by gene
       (uniform crossover), so good values found in different members can meet;
    3. mutates each gene with probability ``mutation_rate`` (default one over the number of genes, and at least one
       gene always): floats and integers move by a Gaussian step of ``sigma`` in the unit cube of ``to_unit``, which
       is the log domain for log dimensions, so a step is a relative change there; an integer that would not change
       moves to a neighbour; a categorical changes to another choice. Bounds are kept by reflecting at the cube's
       faces (clipping would pile children onto the bounds).

    With ``regularized=True`` the population is the ``population`` most recent complete trials (the oldest dies
    when a child is told); otherwise it keeps the best ``population`` complete trials. Failed trials never join.

    With several objectives it is NSGA-II (Deb et al., 2002), one child at a time: the population keeps the
    ``population`` best complete trials by non-dominated front (under constrained domination, when the study has
    constraints), then by crowding distance, and tournaments use the crowded comparison (lower front, then the
    lonelier point). ``regularized`` does not apply: NSGA-II keeps its elite.

    Markers created while a trial runs (``units_{i}`` in a loop, a parameter under an ``if``) are inherited through
    ``sample_dynamic``: a child takes its parent's value when the parent had one that fits the marker, mutated if
    that gene was chosen, and a fresh draw otherwise (a layer the parent did not have).

    ``setup`` with a history rebuilds the population from it in order, so a resumed study proposes what the
    uninterrupted one would have. A configuration already tried is redrawn (up to a few times) rather than
    repeated.

    Args:
        population: members kept, and random configurations before evolution starts.
        tournament: members drawn per tournament (at most ``population``; default 5, or the whole population when
            it is smaller).
        mutation_rate: probability that each gene mutates; None for one over the number of genes.
        crossover_rate: probability that a child has two parents.
        regularized: age the population (FIFO) instead of keeping the best.
        sigma: standard deviation of a numeric mutation, in the unit cube (0.15 moves a log-scaled learning rate in
            [1e-5, 1] by about a factor of 5).
    """

    name = "evolution"
    supports_dynamic = True

    def __init__(
        self,
        population: int = 20,
        tournament: int | None = None,
        mutation_rate: float | None = None,
        crossover_rate: float = 0.5,
        regularized: bool = True,
        sigma: float = 0.15,
    ) -> None:
        check_int("population", population, 1, MAX_SIZE)
        if tournament is None:  # --population 4 alone is a valid request: the default adapts to it
            tournament = min(5, int(population))
        if not is_int(tournament) or tournament < 1:
            raise OptionError(f"tournament must be an integer >= 1, got {tournament!r}")
        if tournament > population:
            raise OptionError(f"tournament ({tournament}) must not exceed population ({population})")
        if mutation_rate is not None and not (is_real(mutation_rate) and 0 < mutation_rate <= 1):
            raise OptionError(f"mutation_rate must be None or a number in (0, 1], got {mutation_rate!r}")
        if not (is_real(crossover_rate) and 0 <= crossover_rate <= 1):
            raise OptionError(f"crossover_rate must be a number in [0, 1], got {crossover_rate!r}")
        if not isinstance(regularized, bool):
            raise OptionError(f"regularized must be True or False, got {regularized!r}")
        if not (is_real(sigma) and 0 < sigma <= 1):
            raise OptionError(f"sigma must be a number in (0, 1], got {sigma!r}")
        self.population = int(population)
        self.tournament = int(tournament)
        self.mutation_rate = None if mutation_rate is None else float(mutation_rate)
        self.crossover_rate = float(crossover_rate)
        self.regularized = regularized
        self.sigma = float(sigma)

    def _prepare(self, history: Sequence[Trial]) -> None:
        """Start empty, then replay the history's complete trials into the population, oldest first."""
        self._members: deque[_Member] | list[_Member] = deque(maxlen=self.population) if self.regularized else []
        self._n_members = 0
        # Several objectives (NSGA-II): each member's losses and violations, and its (front, crowding) by age.
        self._vectors: dict[int, np.ndarray] = {}
        self._violations: dict[int, list[float] | None] = {}
        self._crowded: dict[int, tuple[int, float]] = {}
        self._seen: set[tuple[Any, ...]] = set()
        self._reached: dict[tuple[tuple[str, Any], ...], frozenset[str]] = {}  # by the choices trials made
        self._outstanding: dict[int, _Proposal] = {}  # by trial number
        for trial in history:
            if trial.state.finished:
                self._note(trial)
                self._join(trial)

    @property
    def members(self) -> list[_Member]:
        """The current population: oldest first when regularized, else best first (for tests and curious users)."""
        return list(self._members)

    def ask(self, number: int) -> dict[str, Any]:
        index = self.n_asked
        self.n_asked += 1
        rng = self.trial_rng(index)
        if index < self.population or not self._members:
            params = self.space.sample(rng)
            for _ in range(_RETRIES):
                if self._identity(params) not in self._seen:
                    break
                params = self.space.sample(rng)
            proposal = _Proposal(index, params, {}, frozenset())
            self._seen.add(self._identity(params))
        else:
            proposal = self._breed(index, rng)
        self._outstanding[number] = proposal
        return dict(proposal.params)

    def tell(self, trial: Trial) -> None:
        """Settle the trial's proposal; a complete trial joins the population (the oldest member may die)."""
        self._outstanding.pop(trial.number, None)
        self._note(trial)
        self._join(trial)

    def _note(self, trial: Trial) -> None:
        """Remember a finished trial's configuration, and which parameters its choices reached (``_identity``)."""
        if not trial.state.finished:
            return
        self._seen.add(self._key(trial.params))
        choices = tuple(
            (n, _gene_key(d, trial.params[n]))
            for n, d in self.space.items()
            if isinstance(d, Categorical) and n in trial.params
        )
        self._reached[choices] = self._reached.get(choices, frozenset()) | {n for n in trial.params if n in self.space}

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        """Inherit the parent's value of a marker created at run time (mutated if chosen); else draw one."""
        proposal = self._outstanding.get(trial.number)
        if proposal is None:
            return super().dynamic_policy(trial)
        return _Inherited(self.seed, proposal.index, dict(proposal.genes), frozenset(proposal.mutate), self.sigma)

    # -- evolution ---------------------------------------------------------------------------------------------

    def _breed(self, index: int, rng: np.random.Generator) -> _Proposal:
        """Tournament, optional crossover, mutation; redrawn a few times if the child was already tried, then drawn
        at random."""
        parent = self._tournament(rng)
        genes = dict(parent.params)
        if self.crossover_rate > 0 and len(self._members) > 1 and rng.random() < self.crossover_rate:
            other = self._tournament(rng, exclude=parent)
            genes = self._crossover(parent.params, other.params, rng)
        params, mutate = self._mutate(genes, rng)
        for _ in range(_RETRIES):
            if self._identity(params) not in self._seen:
                break
            params, mutate = self._mutate(genes, rng)
        else:
            # Every child tried was tried before (the parents' neighbourhood is used up): a new random configuration.
            for _ in range(_RETRIES):
                if self._identity(params) not in self._seen:
                    break
                params, mutate, genes = self.space.sample(rng), frozenset(), {}
        self._seen.add(self._identity(params))
        dynamic = {k: v for k, v in genes.items() if k not in self.space}
        return _Proposal(index, params, dynamic, mutate)

    def _identity(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A proposal's identity as its trial will record it. In a cell with branches a trial records only the
        parameters its branch reached: those the earlier trials with the same choices reached (all, for a
        configuration whose choices no trial made yet)."""
        matches = [
            (len(choices), reached)
            for choices, reached in self._reached.items()
            if all(_gene_key(self.space[n], params.get(n, _GAP)) == key for n, key in choices)
        ]
        if not matches:
            return self._key(params)
        reached = max(matches, key=lambda match: match[0])[1]
        return self._key({n: v for n, v in params.items() if n in reached})

    def _tournament(self, rng: np.random.Generator, exclude: _Member | None = None) -> _Member:
        """The best of ``tournament`` members drawn without replacement (ties: the older member)."""
        if self._crowded:
            return self._crowded_tournament(rng, exclude)
        pool = [m for m in self._members if m is not exclude] or list(self._members)
        k = min(self.tournament, len(pool))
        drawn = rng.choice(len(pool), size=k, replace=False)
        return min((pool[int(j)] for j in drawn), key=lambda m: m.rank)

    def _crowded_tournament(self, rng: np.random.Generator, exclude: _Member | None = None) -> _Member:
        """NSGA-II's crowded comparison: the lower front wins, then the larger crowding distance (a lonelier point
        of the front), then the older member."""
        pool = [m for m in self._members if m is not exclude] or list(self._members)
        k = min(self.tournament, len(pool))
        drawn = rng.choice(len(pool), size=k, replace=False)
        return min(
            (pool[int(j)] for j in drawn),
            key=lambda m: (self._crowded[m.order][0], -self._crowded[m.order][1], m.order),
        )

    def _crossover(self, a: Mapping[str, Any], b: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Uniform crossover: each gene from either parent with equal chance; a gene only one parent has is kept."""
        genes: dict[str, Any] = {}
        for name in [*a, *(n for n in b if n not in a)]:
            if name in a and name in b:
                genes[name] = a[name] if rng.random() < 0.5 else b[name]
            else:
                genes[name] = a[name] if name in a else b[name]
        return genes

    def _mutate(self, genes: Mapping[str, Any], rng: np.random.Generator) -> tuple[dict[str, Any], frozenset[str]]:
        """A child of ``genes``: the static space's values, and the run-time genes chosen for mutation.

        A static parameter the parent lacks (the cell was edited, or a condition skipped it) or holds an illegal
        value for is drawn afresh.
        """
        # The parameters the parent reached: in a cell with branches, mutating one its branch skips would rerun it.
        mutable = [n for n, d in self.space.items() if _mutable(d) and n in genes]
        mutable = mutable or [n for n, d in self.space.items() if _mutable(d)]
        dynamic = [n for n in genes if n not in self.space]
        candidates = mutable + dynamic
        chosen: set[str] = set()
        if candidates:
            rate = self.mutation_rate if self.mutation_rate is not None else 1.0 / len(candidates)
            chosen = {n for n in candidates if rng.random() < rate}
            if not chosen:
                pool = mutable or dynamic
                chosen = {pool[int(rng.integers(len(pool)))]}
        params: dict[str, Any] = {}
        for name, dim in self.space.items():
            value = genes.get(name, _GAP)
            if value is _GAP or not dim.contains(value):
                params[name] = dim.sample(rng)
            elif name in chosen:
                params[name] = self._mutate_value(dim, value, rng)
            else:
                params[name] = _canonical(dim, value)
        return params, frozenset(n for n in chosen if n not in self.space)

    def _mutate_value(self, dim: Dimension, value: Any, rng: np.random.Generator) -> Any:
        """One gene mutated, within the dimension's type, bounds and scale."""
        return mutate_value(dim, value, rng, self.sigma)

    # -- population ----------------------------------------------------------------------------------------------

    def _join(self, trial: Trial) -> None:
        if trial.state is not TrialState.COMPLETE or not is_real(trial.value) or not math.isfinite(trial.value):
            return
        violation = float(sum(trial.violations)) if trial.violations else 0.0
        member = _Member(self._n_members, self.sign * float(trial.value), dict(trial.params), violation)
        self._n_members += 1
        vector = self._losses(trial)
        if vector is not None:
            self._vectors[member.order] = vector
            self._violations[member.order] = trial.violations
            self._select([*self._members, member])
            return
        if self.regularized:
            self._members.append(member)  # a deque of maxlen ``population``: the oldest member dies
        else:
            members = [*self._members, member]
            members.sort(key=lambda m: m.rank)
            self._members = members[: self.population]

    def _losses(self, trial: Trial) -> np.ndarray | None:
        """A multi-objective study's trial as losses to minimise (None with one objective or incomplete values)."""
        objectives = self.objectives
        if objectives is None or not objectives.several or trial.values is None:
            return None
        if len(trial.values) != len(objectives.names) or not all(math.isfinite(v) for v in trial.values):
            return None
        return np.array([d.sign * v for d, v in zip(objectives.directions, trial.values, strict=True)])

    def _select(self, candidates: list[_Member]) -> None:
        """NSGA-II's environmental selection, one child at a time: keep the ``population`` best by (constrained)
        non-dominated front, then crowding distance; then rank the survivors again for the tournaments."""
        from hpmagic.pareto import front_order

        def order(members: list[_Member]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            points = np.array([self._vectors[m.order] for m in members])
            violations = [self._violations[m.order] for m in members]
            return front_order(points, violations if any(v is not None for v in violations) else None)

        best = order(candidates)[0]
        survivors = [candidates[int(i)] for i in best[: self.population]]
        for m in candidates:
            if m not in survivors:
                self._vectors.pop(m.order, None)
                self._violations.pop(m.order, None)
        ranked, ranks, crowding = order(survivors)
        self._members = [survivors[int(i)] for i in ranked]
        self._crowded = {m.order: (int(r), float(c)) for m, r, c in zip(survivors, ranks, crowding, strict=True)}

    def _key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a configuration's static values (floats exact, choices by position)."""
        return tuple(_gene_key(dim, params.get(name, _GAP)) for name, dim in self.space.items())


def _mutable(dim: Dimension) -> bool:
    return not (isinstance(dim, Categorical) and len(dim.choices) < 2)


def _reflect(u: float) -> float:
    """Fold a unit-cube coordinate back into [0, 1] at its faces (a mirror, so a step never leaves the bounds)."""
    u = math.fmod(abs(u), 2.0)
    return 2.0 - u if u > 1.0 else u


def _canonical(dim: Dimension, value: Any) -> Any:
    """A legal value as the type the dimension promises: float, int, or the very choice object."""
    if isinstance(dim, Float):
        return float(value)
    if isinstance(dim, Int):
        return int(value)
    if isinstance(dim, Categorical):
        i = dim.index(value)
        assert i is not None  # callers pass legal values only
        return dim.choices[i]
    return value


def _gene_key(dim: Dimension, value: Any) -> Any:
    if value is _GAP:
        return ("gap",)
    if not dim.contains(value):
        return ("other", repr(value))
    if isinstance(dim, Categorical):
        return ("choice", dim.index(value))
    return float(value) if isinstance(dim, Float) else int(value)


def mutate_value(dim: Dimension, value: Any, rng: np.random.Generator, sigma: float) -> Any:
    """One gene mutated, within the dimension's type, bounds and scale (``sigma``: the step in the unit cube)."""
    if isinstance(dim, Categorical):
        current = dim.index(value)
        others = [i for i in range(len(dim.choices)) if i != current]
        return dim.choices[others[int(rng.integers(len(others)))]] if others else _canonical(dim, value)
    noise = float(rng.normal(0.0, sigma))
    u = _reflect(dim.to_unit(value) + noise)
    new = dim.from_unit(u)
    if isinstance(dim, Int) and new == value:
        # The step stayed inside the integer's slice of the cube: move to the neighbour it pointed at instead,
        # so that every mutation of a gene changes it.
        step = 1 if noise >= 0 else -1
        new = value + step if dim.low <= value + step <= dim.high else value - step
        new = int(min(max(new, dim.low), dim.high))
    return new


class _Inherited:
    """Run-time markers of a child: the parent's genes, mutated where the child mutates; picklable for workers."""

    def __init__(self, seed: int, index: int, genes: dict[str, Any], mutate: frozenset[str], sigma: float) -> None:
        self.seed, self.index, self.genes, self.mutate, self.sigma = seed, index, genes, mutate, sigma

    def __call__(self, trial: Trial, name: str, dim: Dimension) -> Any:
        rng = np.random.default_rng([self.seed, self.index, stable_hash(name)])
        value = self.genes.get(name, _GAP)
        if value is _GAP or not dim.contains(value):
            return dim.sample(rng)
        if name in self.mutate:
            return mutate_value(dim, value, rng, self.sigma)
        return _canonical(dim, value)
