"""ASHA (Li et al., MLSys 2020): asynchronous successive halving, which promotes as soon as results allow."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from hpmagic._checks import is_int
from hpmagic.errors import OptionError
from hpmagic.samplers._base import DynamicPolicy, SeededDynamic
from hpmagic.schedulers._base import TrialRequest
from hpmagic.schedulers._hyperband import check_eta
from hpmagic.schedulers._segments import SegmentScheduler, Standing
from hpmagic.space import Dimension
from hpmagic.trial import Trial

__all__ = ["ASHAScheduler", "rung_budgets"]


def rung_budgets(min_resource: int, max_resource: int, eta: int) -> list[int]:
    """The rungs' budgets: ``min * eta^k`` while below the maximum, then the maximum itself (1, 3, 9, 27 for 1..27).

    The top rung is always the maximum, so a configuration that climbs every rung is trained as far as a full
    random-search trial; when the maximum is not ``min * eta^k`` the last step up is smaller than eta times.
    """
    budgets = [min_resource]
    while budgets[-1] * eta < max_resource:
        budgets.append(budgets[-1] * eta)
    if budgets[-1] < max_resource:
        budgets.append(max_resource)
    return budgets


class ASHAScheduler(SegmentScheduler):
    """Asynchronous successive halving over a resource range (``--budget MIN..MAX``).

    Rung k trains configurations to ``min_resource * eta^k`` steps (the top rung: the maximum). Each ask looks at the
    rungs from the top down and promotes to rung k+1 a configuration that is among the best ``floor(n_k / eta)`` of
    the ``n_k`` results of rung k and was not promoted yet (it continues its latest trial); when there is none it
    starts a new configuration from the sampler (random search by default) at the lowest rung (the grace period).
    Unlike hyperband it never waits for a rung to fill, so it suits results that arrive in any order, and it has no
    natural end: it runs until ``--trials`` or ``--timeout``.

    A failed trial is the worst of its rung and is never promoted. Trials carry ``user_attrs``
    ``{"rung": k, "config": c}``; with random search configuration ``c`` draws from ``trial_rng(c)``, as random
    search's trial ``c``.

    Args:
        eta: the reduction factor: a rung promotes the best 1/eta of its results, to eta times their budget.
        min_resource: the grace period, the lowest rung's budget (default: the minimum of ``--budget``).
    """

    name = "asha"

    def __init__(self, eta: int = 3, min_resource: int | None = None) -> None:
        self.eta = check_eta(eta, "asha")
        if min_resource is not None and (not is_int(min_resource) or min_resource < 1):
            raise OptionError(f"asha: min_resource must be an integer >= 1 or None, got {min_resource!r}")
        self.grace = None if min_resource is None else int(min_resource)

    def _reset(self) -> None:
        grace = self.min_resource if self.grace is None else self.grace
        if not self.min_resource <= grace <= self.max_resource:
            raise OptionError(
                f"asha: min_resource={grace} is outside the budget range {self.min_resource}..{self.max_resource}"
            )
        self.budgets = rung_budgets(grace, self.max_resource, self.eta)
        #: Per rung: the finished results, configuration -> standing.
        self.results: list[dict[int, Standing]] = [{} for _ in self.budgets]
        #: Per rung: the configurations already promoted out of it (asked, whether or not they finished).
        self.promoted: list[set[int]] = [set() for _ in self.budgets]
        self.configs: dict[int, dict[str, Any]] = {}
        self.latest: dict[int, int] = {}
        self.n_promotions = 0

    def _key(self, attrs: dict[str, Any]) -> Hashable | None:
        if "config" in attrs and "rung" in attrs and "bracket" not in attrs and "member" not in attrs:
            return (attrs["config"], attrs["rung"])
        return None

    def _next_request(self, number: int) -> TrialRequest:
        for k in range(len(self.budgets) - 2, -1, -1):
            c = self._promotable(k)
            if c is not None:
                self.promoted[k].add(c)
                self.n_promotions += 1
                return TrialRequest(
                    dict(self.configs[c]),
                    budget=self.budgets[k + 1],
                    resume_from=self.latest.get(c),
                    attrs={"rung": k + 1, "config": c},
                )
        c = len(self.configs)
        self.configs[c] = self._new_config(c, number)
        return TrialRequest(dict(self.configs[c]), budget=self.budgets[0], attrs={"rung": 0, "config": c})

    def _promotable(self, k: int) -> int | None:
        """The best configuration of rung k's top ``floor(n_k / eta)`` that has not been promoted, if any."""
        results = self.results[k]
        top = len(results) // self.eta
        if top == 0:
            return None
        ranked = sorted((standing, c) for c, standing in results.items())
        for standing, c in ranked[:top]:
            if not standing.failed and c not in self.promoted[k]:
                return c
        return None

    def _record(self, request: TrialRequest, trial: Trial, standing: Standing) -> None:
        c, k = request.attrs["config"], request.attrs["rung"]
        self.results[k][c] = standing
        self.latest[c] = trial.number

    def sample_dynamic(self, trial: Trial, name: str, dim: Dimension) -> Any:
        """Markers created at run time get one value per configuration, so a promotion keeps its values."""
        return self.dynamic_policy(trial)(trial, name, dim)

    def dynamic_policy(self, trial: Trial) -> DynamicPolicy:
        return SeededDynamic(self.seed, 1 << 21, "config")
