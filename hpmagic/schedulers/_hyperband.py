"""Hyperband (Li et al., JMLR 2018): successive halving run in brackets that trade breadth against depth."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from hpmagic._checks import MAX_SIZE, is_int
from hpmagic.errors import OptionError
from hpmagic.samplers._base import DynamicPolicy, SeededDynamic
from hpmagic.schedulers._base import TrialRequest
from hpmagic.schedulers._segments import SegmentScheduler, Standing
from hpmagic.space import Dimension
from hpmagic.trial import Trial

__all__ = ["HyperbandScheduler", "bracket_plan", "check_eta"]


def check_eta(eta: Any, who: str) -> int:
    """``eta`` as an int >= 2, or an OptionError naming the strategy."""
    if not is_int(eta) or eta < 2:
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
    if eta**s_max > MAX_SIZE:
        # The first bracket starts eta^s_max configurations at once: refused before it is allocated.
        low = -(-max_resource // MAX_SIZE)
        raise OptionError(
            f"hyperband: the budget {min_resource}..{max_resource} with eta={eta} starts a bracket of "
            f"{eta**s_max:,} configurations; raise the minimum, e.g. --budget {low}..{max_resource}"
        )
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
    results: dict[int, Standing] = field(default_factory=dict)
    done: bool = False


class HyperbandScheduler(SegmentScheduler):
    """Hyperband over a resource range (``--budget MIN..MAX``): brackets of synchronous successive halving.

    Each bracket draws its configurations from the sampler (random search by default, configuration ``c`` from
    ``trial_rng(c)``; ``--strategy bayes --scheduler hyperband`` is BOHB), runs them
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
    ends_by_itself = True

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

    @property
    def planned_trials(self) -> int | None:
        """Trials in one whole schedule (every rung of every bracket), when the budget is known."""
        if self.resource is None:
            return None
        return sum(n for rungs in bracket_plan(self.resource[0], self.resource[1], self.eta) for n, _ in rungs)

    def _next_request(self, number: int) -> TrialRequest:
        for bracket in self.brackets:
            if bracket.queue:
                return self._request(bracket, bracket.queue.popleft(), number)
        bracket = self._open_bracket()
        return self._request(bracket, bracket.queue.popleft(), number)

    def _open_bracket(self) -> _Bracket:
        index = len(self.brackets)
        rungs = self.plan[index % len(self.plan)]
        bracket = _Bracket(index=index, s=len(rungs) - 1, rungs=rungs)
        for _ in range(rungs[0][0]):
            c = len(self._bracket_of)
            self._bracket_of[c] = bracket
            bracket.members.append(c)
            bracket.queue.append(c)
        self.brackets.append(bracket)
        return bracket

    def _request(self, bracket: _Bracket, c: int, number: int) -> TrialRequest:
        if c not in self.configs:  # drawn when first run, so a model-based sampler sees the latest results
            self.configs[c] = self._new_config(c, number)
        return TrialRequest(
            dict(self.configs[c]),
            budget=bracket.rungs[bracket.rung][1],
            resume_from=self.latest.get(c) if bracket.rung > 0 else None,
            attrs={"bracket": bracket.s, "rung": bracket.rung, "config": c},
        )

    def _record(self, request: TrialRequest, trial: Trial, standing: Standing) -> None:
        c = request.attrs["config"]
        bracket = self._bracket_of[c]
        if request.attrs["rung"] != bracket.rung:
            return  # cannot happen with requests this strategy made; ignore rather than corrupt the bracket
        bracket.results[c] = standing
        previous = self.latest.get(c)
        if previous is not None and previous != trial.number:
            self.release(previous)  # this configuration's newer segment has its own snapshot now
        self.latest[c] = trial.number
        if len(bracket.results) < len(bracket.members):
            return
        if bracket.rung == bracket.s:
            bracket.done = True
            self.release(*(self.latest[m] for m in bracket.members))  # the bracket's last rung: never continued
            return
        keep = bracket.rungs[bracket.rung + 1][0]
        ranked = sorted((standing, c) for c, standing in bracket.results.items() if not standing.failed)
        promoted = [c for _standing, c in ranked[:keep]]
        self.release(*(self.latest[m] for m in bracket.members if m not in promoted))  # eliminated here
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
        return self.dynamic_policy(trial)(trial, name, dim)

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        return SeededDynamic(self.seed, 1 << 20, "config")
