"""Multi-fidelity problems where the budget matters: cheap fidelities are biased, so early results mislead.

Each problem is trained step by step: ``start(params)`` makes a state, ``step(state, s)`` trains step ``s`` (one
"epoch", one unit of fidelity) and returns the value to minimise at that step. The same problem object drives
hpmagic (``tune.steps()`` / ``tune.report``) and the Optuna peer (``trial.report`` / ``should_prune``), so both
see the same function. Known optima (``optimum``) give the regret; the MLP's is the best value any run found.

Synthetic functions with a continuous fidelity z in [0, 1] (z = 1 is the target function), from the
multi-fidelity BO literature:

* Branin with a fidelity (Kandasamy et al., "Multi-fidelity Bayesian Optimisation with Continuous
  Approximations", ICML 2017 (BOCA), appendix; also Dragonfly's ``branin_mf``): b, c and t of Branin shift with
  1 - z, which moves the minima as well as the values.
* Hartmann-6 with a fidelity (same paper): the mode weights alpha become alpha - 0.1 (1 - z), which changes which
  mode is best at low fidelity.
* Currin exponential with a fidelity (Xiong, Qian and Wu, "Sequential design and analysis of high-accuracy and
  low-accuracy computer codes", Technometrics 2013, the low-fidelity version as an average of shifted evaluations;
  2-d on [0, 1]^2): the cheap version is interpolated linearly to the true one in z.

Step s of a budget 1..S is at fidelity z = log(s) / log(S): the first step is the cheapest, most biased
version, and the rungs of Hyperband (eta 3) are evenly spaced in z.

The learning-curve task is an MLP (``MLPClassifier.partial_fit``, SGD with momentum) on scikit-learn's bundled
digits, one epoch per step, minimising the validation log-loss: a large learning rate with high momentum wins the
first epochs and plateaus or diverges later; small rates start slowly and end best.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.problems import _H6_A, _H6_ALPHA, _H6_P  # Hartmann-6's constants, as the full-fidelity problem's

#: A dimension: (name, low, high, log scale).
Dim = tuple[str, float, float, bool]


@dataclass(frozen=True)
class Problem:
    """A multi-fidelity problem: its space, its budget in steps, and its known optimum (None: unknown)."""

    name: str
    dims: tuple[Dim, ...]
    max_steps: int
    optimum: float | None

    def fidelity(self, s: int) -> float:
        return math.log(s) / math.log(self.max_steps)

    def start(self, params: Mapping[str, Any]) -> Any:
        return None

    def step(self, state: Any, params: Mapping[str, Any], s: int) -> float:
        raise NotImplementedError


class Synthetic(Problem):
    """A function f(x, z) evaluated afresh at each step's fidelity (no state to carry)."""

    def f(self, x: np.ndarray, z: float) -> float:
        raise NotImplementedError

    def step(self, state: Any, params: Mapping[str, Any], s: int) -> float:
        return self.f(np.array([float(params[d[0]]) for d in self.dims]), self.fidelity(s))


class BraninMF(Synthetic):
    def __init__(self, max_steps: int = 27) -> None:
        super().__init__("branin-mf", (("x1", -5.0, 10.0, False), ("x2", 0.0, 15.0, False)), max_steps, 0.397887)

    def f(self, x: np.ndarray, z: float) -> float:
        b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
        c = 5 / math.pi - 0.1 * (1 - z)
        t = 1 / (8 * math.pi) + 0.05 * (1 - z)
        x1, x2 = x
        return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10)


class Hartmann6MF(Synthetic):
    """Minimises -Hartmann6 (optimum -3.32237 at z = 1)."""

    def __init__(self, max_steps: int = 27) -> None:
        super().__init__("hartmann6-mf", tuple((f"x{i}", 0.0, 1.0, False) for i in range(6)), max_steps, -3.32237)

    def f(self, x: np.ndarray, z: float) -> float:
        alpha = _H6_ALPHA - 0.1 * (1 - z)
        return float(-np.sum(alpha * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def _currin(x1: float, x2: float) -> float:
    x2 = max(x2, 1e-12)  # the formula's limit at x2 = 0 is 1 - 0 = 1 times the ratio
    return (
        (1 - math.exp(-1 / (2 * x2)))
        * (2300 * x1**3 + 1900 * x1**2 + 2092 * x1 + 60)
        / (100 * x1**3 + 500 * x1**2 + 4 * x1 + 20)
    )


class CurrinMF(Synthetic):
    """Minimises -Currin (its maximum, about 13.7987, is at x = (0.2167, 0))."""

    def __init__(self, max_steps: int = 27) -> None:
        super().__init__("currin-mf", (("x1", 0.0, 1.0, False), ("x2", 0.0, 1.0, False)), max_steps, -13.798722)

    def f(self, x: np.ndarray, z: float) -> float:
        x1, x2 = float(x[0]), float(x[1])
        high = _currin(x1, x2)
        low = 0.25 * (
            _currin(x1 + 0.05, x2 + 0.05)
            + _currin(x1 + 0.05, max(0.0, x2 - 0.05))
            + _currin(x1 - 0.05, x2 + 0.05)
            + _currin(x1 - 0.05, max(0.0, x2 - 0.05))
        )
        return -(z * high + (1 - z) * low)


class DigitsMLP(Problem):
    """An MLP on digits: learning rate, momentum and L2 penalty; minimises validation log-loss, epoch by epoch."""

    def __init__(self, max_steps: int = 27) -> None:
        super().__init__(
            "digits-mlp",
            (("lr", 1e-4, 1.0, True), ("momentum", 0.0, 0.99, False), ("alpha", 1e-6, 1e-1, True)),
            max_steps,
            None,
        )
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler

        x, y = load_digits(return_X_y=True)
        x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
        scaler = StandardScaler().fit(x_train)
        object.__setattr__(self, "data", (scaler.transform(x_train), y_train, scaler.transform(x_val), y_val))

    def start(self, params: Mapping[str, Any]) -> Any:
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=(32,),
            solver="sgd",
            learning_rate_init=float(params["lr"]),
            momentum=float(params["momentum"]),
            alpha=float(params["alpha"]),
            batch_size=64,
            random_state=0,
        )

    def step(self, state: Any, params: Mapping[str, Any], s: int) -> float:
        from sklearn.metrics import log_loss

        x_train, y_train, x_val, y_val = self.data  # type: ignore[attr-defined]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            state.partial_fit(x_train, y_train, classes=np.arange(10))
            proba = state.predict_proba(x_val)
        if not np.all(np.isfinite(proba)):
            return 10.0  # diverged: a bad, finite loss (log-loss of a uniform guess is 2.3)
        return min(float(log_loss(y_val, proba, labels=np.arange(10))), 10.0)


PROBLEMS: dict[str, type[Synthetic]] = {"branin-mf": BraninMF, "hartmann6-mf": Hartmann6MF, "currin-mf": CurrinMF}


def get(name: str, max_steps: int | None = None) -> Problem:
    """A problem by name, with its default budget 1..S unless ``max_steps`` is given."""
    kwargs = {} if max_steps is None else {"max_steps": max_steps}
    if name == "digits-mlp":
        return DigitsMLP(**kwargs)
    return PROBLEMS[name](**kwargs)
