"""Hyperband (Li et al., JMLR 2018): successive halving run in brackets that trade breadth against depth.

This module also holds ``SegmentScheduler``, the machinery that hyperband, asha and pbt share. In all three a trial
is one *segment* of training of a configuration: from the step it restores (0 for a new configuration) up to the
budget the scheduler grants it. A promotion (or a PBT round) is a new trial with the same parameters that continues
the configuration's latest trial (``TrialRequest.resume_from``); with ``--state`` it restores that trial's snapshot,
without it the cell retrains from scratch up to the larger budget.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpmagic.errors import OptionError
from hpmagic.space import Dimension, Space
from hpmagic.strategies._base import Strategy, TrialRequest, _stable_hash
from hpmagic.trial import Trial, TrialState

__all__ = ["HyperbandStrategy", "SegmentScheduler", "bracket_plan", "check_eta"]


class SegmentScheduler(Strategy):
    """Shared life cycle of the strategies whose trials are segments of training (hyperband, asha, pbt).

    Subclasses say what to run next (``_next_request``), what a finished segment teaches them (``_record``) and
    which request attributes identify a segment (``_key``). This class does the bookkeeping around them:

    - ``tell`` finds the request a trial answers by its attributes (the loop copies a request's ``attrs`` into the
      trial's ``user_attrs``), else by its parameters, else takes the oldest outstanding one, so results may arrive
      in any order.
    - ``setup`` with a history *replays* it: it asks the schedule again from the start and, for each request, looks
      for the finished trial that answered it (same attributes, budget and parameters; trials without attributes by
      their parameters alone) and records that trial's result instead of running it. Decisions depend only on the seed
      and on these results, so a resumed study continues exactly where the interrupted one stopped, never repeats
      a finished segment, and points ``resume_from`` at the right trial numbers. The replay stops at the first
      request with no finished trial (the one a crash interrupted, say); that request is asked first.

    Limits: the replay follows the order of a sequential run. A study run with several trials at once and stopped
    while some of them had not finished may replay only up to the first missing one; the later finished segments are
    then run again (never skipped, so the results stay correct).
    """

    needs_budget = True

    def setup(
        self,
        space: Space,
        *,
        direction: str,
        seed: int,
        n_trials: int | None = None,
        history: Sequence[Trial] = (),
    ) -> None:
        super().setup(space, direction=direction, seed=seed, n_trials=n_trials, history=history)
        if self.resource is None:
            raise OptionError(f"the {self.name} strategy needs a resource range: --budget MIN..MAX (e.g. 1..81)")
        self.min_resource, self.max_resource = int(self.resource[0]), int(self.resource[1])
        self._pending: dict[Hashable, TrialRequest] = {}
        self._ready: deque[TrialRequest] = deque()
        self._reset()
        self.n_replayed = self._replay([t for t in history if t.state.finished])

    # -- the Strategy interface ----------------------------------------------------------------------------------------

    def ask(self) -> dict[str, Any]:
        return self.ask_request().params

    def ask_request(self) -> TrialRequest:
        request = self._ready.popleft() if self._ready else self._next_request()
        self._pending[self._key(request.attrs)] = request
        return request

    def tell(self, trial: Trial) -> None:
        request = self._claim(trial)
        if request is not None:
            self._record(request, trial, self.loss(trial))

    # -- for subclasses ------------------------------------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget every result: called by ``setup`` before the history is replayed."""
        raise NotImplementedError

    def _next_request(self) -> TrialRequest:
        """The next segment to run; it counts as running until ``_record`` gets its result."""
        raise NotImplementedError

    def _record(self, request: TrialRequest, trial: Trial, loss: float) -> None:
        """A segment finished: ``loss`` is ``sign * value``, ``inf`` for a failed trial."""
        raise NotImplementedError

    def _key(self, attrs: dict[str, Any]) -> Hashable | None:
        """What identifies a segment among the attributes of its request (None: not one of this strategy's)."""
        raise NotImplementedError

    def loss(self, trial: Trial) -> float:
        """The trial's value as a loss to minimise; a failed trial (no value) is the worst possible."""
        if trial.state is TrialState.FAILED or trial.value is None:
            return math.inf
        return self.sign * float(trial.value)

    def new_params(self, index: int) -> dict[str, Any]:
        """The ``index``-th new configuration: ``trial_rng(index)``, as random search's trial ``index`` draws."""
        return self.space.sample(self.trial_rng(index))

    # -- bookkeeping ---------------------------------------------------------------------------------------------------

    def _claim(self, trial: Trial) -> TrialRequest | None:
        key = self._key(trial.user_attrs)
        if key is not None:  # one of this strategy's trials: its own request, or none (told twice, or not asked)
            return self._pending.pop(key, None)
        for k, request in self._pending.items():
            if _agree(request.params, trial.params, full=True):
                return self._pending.pop(k)
        if self._pending:
            return self._pending.pop(next(iter(self._pending)))
        return None

    def _replay(self, history: list[Trial]) -> int:
        replayed = 0
        while history and not self.is_exhausted():
            request = self._next_request()
            match = self._find(request, history)
            if match is None:
                self._ready.append(request)
                break
            history.remove(match)
            self._record(request, match, self.loss(match))
            replayed += 1
        return replayed

    def _find(self, request: TrialRequest, history: list[Trial]) -> Trial | None:
        wanted = self._key(request.attrs)
        for trial in history:
            key = self._key(trial.user_attrs)
            if key is None:
                if _agree(request.params, trial.params, full=True):
                    return trial
            elif (
                key == wanted
                and trial.user_attrs.get("budget", request.budget) == request.budget
                and _agree(request.params, trial.params, full=False)
            ):
                return trial
        return None


def _same(a: Any, b: Any) -> bool:
    """Equality that never raises and never broadcasts (arrays and odd objects compare by identity)."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def _agree(proposed: dict[str, Any], used: dict[str, Any], *, full: bool) -> bool:
    """True if the parameters a trial used match a request's: all of them (``full``), or those both have."""
    if full and any(name not in used for name in proposed):
        return False
    return all(_same(value, used[name]) for name, value in proposed.items() if name in used)


def check_eta(eta: Any, who: str) -> int:
    """``eta`` as an int >= 2, or an OptionError naming the strategy."""
    if isinstance(eta, bool) or not isinstance(eta, numbers.Integral) or eta < 2:
        raise OptionError(f"{who}: eta must be an integer >= 2, got {eta!r}")
    return int(eta)


def bracket_plan(min_resource: int, max_resource: int, eta: int) -> list[list[tuple[int, int]]]:
    """Hyperband's schedule: for each bracket s = s_max..0, its rungs as ``(configurations, budget)`` pairs.

    With R = max/min, s_max = floor(log_eta R). Bracket s starts n = ceil((s_max+1)/(s+1) * eta^s) configurations
    at r = R * eta^-s (times the minimum resource) and rung i keeps floor(n * eta^-i) of them at r * eta^i. Budgets
    are rounded to integers and never leave ``[min, max]``; the last rung of every bracket is the maximum.
    Integer arithmetic throughout, so powers of eta are exact (27 = 3^3 gives s_max = 3, not 2.9999).
    """
    s_max = 0
    while min_resource * eta ** (s_max + 1) <= max_resource:
        s_max += 1
    plan = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta**s // (s + 1))
        rungs = []
        for i in range(s + 1):
            # max * eta^(i-s), rounded half up: (2 * max + eta^(s-i)) // (2 * eta^(s-i)).
            budget = (2 * max_resource + eta ** (s - i)) // (2 * eta ** (s - i))
            rungs.append((n // eta**i, min(max(budget, min_resource), max_resource)))
        plan.append(rungs)
    return plan


@dataclass
class _Bracket:
    """One run of successive halving: the configurations of its current rung and their results."""

    index: int
    s: int
    rungs: list[tuple[int, int]]
    rung: int = 0
    members: list[int] = field(default_factory=list)
    queue: deque[int] = field(default_factory=deque)
    results: dict[int, float] = field(default_factory=dict)
    done: bool = False


class HyperbandStrategy(SegmentScheduler):
    """Hyperband over a resource range (``--budget MIN..MAX``): brackets of synchronous successive halving.

    Each bracket samples its configurations at random (configuration ``c`` draws from ``trial_rng(c)``), runs them
    all at the bracket's smallest budget, keeps the best 1/eta and promotes them to eta times the budget, until the
    maximum. The brackets go from the most aggressive (many configurations, one step each) to plain random search
    (few configurations at the full budget), which hedges against a first step that says little about the last.

    A rung's promotions are asked only once every trial of the rung has been told. A failed trial is the worst of
    its rung and is never promoted, so a rung where most trials fail promotes fewer configurations. Trials carry
    ``user_attrs`` ``{"bracket": s, "rung": i, "config": c}``. The study ends after the last bracket
    (``is_exhausted``), so without ``--trials`` the whole schedule runs: for ``--budget 1..27`` 69 trials that
    train for 357 steps in all with ``--state`` (40 trials at 27 steps would be 1080). If the engine asks for more
    trials while every rung waits for results (several trials at once), the next bracket starts early.

    Args:
        eta: the halving rate: each rung keeps 1/eta of the configurations and gives them eta times the budget.
    """

    name = "hyperband"
    supports_dynamic = True

    def __init__(self, eta: int = 3) -> None:
        self.eta = check_eta(eta, "hyperband")

    def _reset(self) -> None:
        self.plan = bracket_plan(self.min_resource, self.max_resource, self.eta)
        self.brackets: list[_Bracket] = []
        self.configs: dict[int, dict[str, Any]] = {}
        self.latest: dict[int, int] = {}
        self._bracket_of: dict[int, _Bracket] = {}

    def _key(self, attrs: dict[str, Any]) -> Hashable | None:
        if "config" in attrs and "rung" in attrs and "bracket" in attrs:
            return (attrs["config"], attrs["rung"])
        return None

    def _next_request(self) -> TrialRequest:
        for bracket in self.brackets:
            if bracket.queue:
                return self._request(bracket, bracket.queue.popleft())
        bracket = self._open_bracket()
        return self._request(bracket, bracket.queue.popleft())

    def _open_bracket(self) -> _Bracket:
        index = len(self.brackets)
        rungs = self.plan[index % len(self.plan)]
        bracket = _Bracket(index=index, s=len(rungs) - 1, rungs=rungs)
        for _ in range(rungs[0][0]):
            c = len(self.configs)
            self.configs[c] = self.new_params(c)
            self._bracket_of[c] = bracket
            bracket.members.append(c)
            bracket.queue.append(c)
        self.brackets.append(bracket)
        return bracket

    def _request(self, bracket: _Bracket, c: int) -> TrialRequest:
        return TrialRequest(
            dict(self.configs[c]),
            budget=bracket.rungs[bracket.rung][1],
            resume_from=self.latest.get(c) if bracket.rung > 0 else None,
            attrs={"bracket": bracket.s, "rung": bracket.rung, "config": c},
        )

    def _record(self, request: TrialRequest, trial: Trial, loss: float) -> None:
        c = request.attrs["config"]
        bracket = self._bracket_of[c]
        if request.attrs["rung"] != bracket.rung:
            return  # cannot happen with requests this strategy made; ignore rather than corrupt the bracket
        bracket.results[c] = loss
        self.latest[c] = trial.number
        if len(bracket.results) < len(bracket.members):
            return
        if bracket.rung == bracket.s:
            bracket.done = True
            return
        keep = bracket.rungs[bracket.rung + 1][0]
        ranked = sorted((value, c) for c, value in bracket.results.items() if math.isfinite(value))
        promoted = [c for _value, c in ranked[:keep]]
        if not promoted:
            bracket.done = True
            return
        bracket.rung += 1
        bracket.members = promoted
        bracket.queue = deque(promoted)
        bracket.results = {}

    def is_exhausted(self) -> bool:
        """True once the brackets of one full schedule (s_max..0) have all finished, and no other is running."""
        return (
            len(self.brackets) >= len(self.plan)
            and all(b.done for b in self.brackets)
            and not self._ready
            and not self._pending
        )

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """Markers created at run time get one value per configuration, so a promotion keeps its values."""
        config = trial.user_attrs.get("config", -1 - trial.number)
        return dim.sample(np.random.default_rng([self.seed, 1 << 20, int(config) & 0xFFFFFFFF, _stable_hash(name)]))
