"""Benchmark problems: synthetic test functions with known optima and small real HPO tasks on scikit-learn data.

Every problem is minimised. Spaces are written with hpmagic's own dimensions (``Float``, ``Int``, ``Categorical``:
what the ``tune.*`` markers declare); ``benchmarks.optimizers`` translates them for the other libraries. Synthetic
domains are the usual ones except Ackley's, which is shifted off-centre so that a grid or a centre-biased initial
design does not find the optimum for free.

The scikit-learn problems use only datasets bundled with scikit-learn (no downloads), 3-fold cross-validation with
fixed folds and fixed model seeds, and ``n_jobs=1``: an evaluation is deterministic and takes well under 0.2 s on
one core. Their optimum is unknown; ``benchmarks.run`` takes the best value ever seen instead.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpmagic.space import Categorical, Dimension, Float, Int

__all__ = ["PROBLEMS", "QUICK_PROBLEMS", "Problem", "get_problem", "sample_params"]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes:
        name: short identifier used on the command line and in the report.
        space: parameter names mapped to hpmagic dimensions.
        objective: ``f(params) -> float``, to be minimised.
        optimum: the known global minimum, or None when it is unknown (real HPO problems).
        noise: True when the value is a statistical estimate (a cross-validation score) rather than an exact
            function; each evaluation is still deterministic (fixed folds and seeds).
        kind: ``"synthetic"`` or ``"sklearn"``.
        description: one line for the report.
        pool_size: random evaluations used to estimate what random search achieves at a given budget.
        direction: always ``"minimize"`` here (scores are turned into errors or losses).
    """

    name: str
    space: Mapping[str, Dimension]
    objective: Callable[[Mapping[str, Any]], float]
    optimum: float | None
    noise: bool
    kind: str
    description: str
    pool_size: int = 2000
    direction: str = field(default="minimize")

    def __call__(self, params: Mapping[str, Any]) -> float:
        return float(self.objective(params))


def sample_params(space: Mapping[str, Dimension], rng: np.random.Generator) -> dict[str, Any]:
    """One uniform random configuration (log-uniform for log dimensions), written with numpy alone.

    This is the "plain random search" baseline and the random pool; it does not use hpmagic's own sampling, so
    the baseline is independent of the library under test.
    """
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, Float):
            if dim.log:
                params[name] = float(math.exp(rng.uniform(math.log(dim.low), math.log(dim.high))))
            else:
                params[name] = float(rng.uniform(dim.low, dim.high))
        elif isinstance(dim, Int):
            if dim.log:
                x = math.exp(
                    rng.uniform(math.log(dim.low - 0.5 if dim.low > 0.5 else dim.low), math.log(dim.high + 0.5))
                )
                params[name] = int(min(max(round(x), dim.low), dim.high))
            else:
                params[name] = int(rng.integers(dim.low, dim.high + 1))
        elif isinstance(dim, Categorical):
            params[name] = dim.choices[int(rng.integers(len(dim.choices)))]
        else:  # pragma: no cover - the three kinds are all hpmagic has
            raise TypeError(f"unsupported dimension {dim!r}")
    return params


# -- synthetic functions ----------------------------------------------------------------------------------------


def _vector(params: Mapping[str, Any], d: int) -> np.ndarray:
    return np.array([params[f"x{i}"] for i in range(d)], dtype=float)


def _box(d: int, low: float, high: float) -> dict[str, Dimension]:
    return {f"x{i}": Float(low, high) for i in range(d)}


def branin(params: Mapping[str, Any]) -> float:
    x1, x2 = float(params["x0"]), float(params["x1"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(params: Mapping[str, Any]) -> float:
    x = _vector(params, 6)
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def ackley(params: Mapping[str, Any], d: int = 5) -> float:
    x = _vector(params, d)
    return float(
        -20 * math.exp(-0.2 * math.sqrt(np.mean(x**2))) - math.exp(np.mean(np.cos(2 * math.pi * x))) + 20 + math.e
    )


def rosenbrock(params: Mapping[str, Any], d: int = 4) -> float:
    x = _vector(params, d)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def levy(params: Mapping[str, Any], d: int = 5) -> float:
    w = 1 + (_vector(params, d) - 1) / 4
    head = math.sin(math.pi * w[0]) ** 2
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + middle + tail)


def styblinski_tang(params: Mapping[str, Any], d: int = 5) -> float:
    x = _vector(params, d)
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


_MIXED_KIND = {"relu": 0.0, "tanh": 0.4, "sigmoid": 1.0}


def mixed(params: Mapping[str, Any]) -> float:
    """A smooth bowl over two floats, a log-scale float, an integer and a categorical; minimum 0.

    The minimum is at x=1.3, y=-0.7, lr=10**-2.5, layers=7, kind="relu". The categorical shifts the optimal
    ``x`` a little too, so the dimensions interact.
    """
    kind = params["kind"]
    shift = {"relu": 0.0, "tanh": 0.5, "sigmoid": -0.8}[kind]
    return float(
        (params["x"] - 1.3 - shift) ** 2
        + 0.5 * (params["y"] + 0.7) ** 2
        + (math.log10(params["lr"]) + 2.5) ** 2
        + 0.05 * (params["layers"] - 7) ** 2
        + _MIXED_KIND[kind]
    )


# -- scikit-learn problems --------------------------------------------------------------------------------------


@functools.cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    if name == "digits_half":
        # Every other image: kNN with the Manhattan metric on all 1,797 images is too slow for the budget.
        X, y = datasets.load_digits(return_X_y=True)
        return X[::2], y[::2]
    raise KeyError(name)


def _cv_error(estimator: Any, data: str) -> float:
    """1 - mean accuracy over 3 fixed stratified folds."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = _data(data)
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of SGD and friends
        return 1.0 - float(cross_val_score(estimator, X, y, cv=cv, n_jobs=1).mean())


def svm(params: Mapping[str, Any]) -> float:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return _cv_error(make_pipeline(StandardScaler(), SVC(C=params["C"], gamma=params["gamma"])), "breast_cancer")


def decision_tree(params: Mapping[str, Any]) -> float:
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier(
        max_depth=params["max_depth"],
        min_samples_split=params["min_samples_split"],
        min_samples_leaf=params["min_samples_leaf"],
        criterion=params["criterion"],
        random_state=0,
    )
    return _cv_error(model, "digits")


def random_forest(params: Mapping[str, Any]) -> float:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        max_features=params["max_features"],
        random_state=0,
        n_jobs=1,
    )
    return _cv_error(model, "breast_cancer")


def knn(params: Mapping[str, Any]) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier(n_neighbors=params["n_neighbors"], weights=params["weights"], p=params["p"])
    return _cv_error(model, "digits_half")


def lasso(params: Mapping[str, Any]) -> float:
    """Mean squared error over 3 fixed folds (diabetes targets: MSE is in the thousands)."""
    from sklearn.linear_model import Lasso
    from sklearn.model_selection import KFold, cross_val_score

    X, y = _data("diabetes")
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(
            Lasso(alpha=params["alpha"], max_iter=5000), X, y, cv=cv, scoring="neg_mean_squared_error", n_jobs=1
        )
    return -float(scores.mean())


def sgd(params: Mapping[str, Any]) -> float:
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = SGDClassifier(
        loss=params["loss"],
        penalty="elasticnet",
        alpha=params["alpha"],
        l1_ratio=params["l1_ratio"],
        max_iter=200,
        tol=1e-3,
        random_state=0,
    )
    return _cv_error(make_pipeline(StandardScaler(), model), "breast_cancer")


def mlp(params: Mapping[str, Any]) -> float:
    """A small neural network with ten hyperparameters (architecture, optimiser, regularisation, preprocessing)."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    model = MLPClassifier(
        hidden_layer_sizes=(params["width"],) * params["layers"],
        activation=params["activation"],
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        batch_size=params["batch_size"],
        beta_1=params["beta_1"],
        beta_2=params["beta_2"],
        max_iter=params["epochs"],
        random_state=0,
    )
    scaler = StandardScaler() if params["scaler"] == "standard" else MinMaxScaler()
    return _cv_error(make_pipeline(scaler, model), "breast_cancer")


def conditional(params: Mapping[str, Any]) -> float:
    """A choice of model whose own hyperparameters count only when it is chosen (the others are ignored).

    The space is flat (every optimizer sees every parameter), as a tree-structured space is written in a cell.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    kind = params["model"]
    if kind == "svc":
        model: Any = SVC(C=params["svc_C"], gamma=params["svc_gamma"])
    elif kind == "logistic":
        model = LogisticRegression(C=params["logistic_C"], max_iter=500)
    elif kind == "knn":
        model = KNeighborsClassifier(n_neighbors=params["knn_k"])
    else:
        model = DecisionTreeClassifier(max_depth=params["tree_depth"], random_state=0)
    return _cv_error(make_pipeline(StandardScaler(), model), "breast_cancer")


# -- the registry -------------------------------------------------------------------------------------------------

_SKLEARN_POOL = 500

PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "branin",
            _box(1, -5, 10) | {"x1": Float(0, 15)},
            branin,
            optimum=5 / (4 * math.pi),
            noise=False,
            kind="synthetic",
            description="Branin, 2-d, x0 in [-5, 10], x1 in [0, 15]; 3 global minima",
        ),
        Problem(
            "hartmann6",
            _box(6, 0, 1),
            hartmann6,
            optimum=-3.322368011415515,
            noise=False,
            kind="synthetic",
            description="Hartmann, 6-d, [0, 1]^6",
        ),
        Problem(
            "ackley5",
            _box(5, -15, 30),
            ackley,
            optimum=0.0,
            noise=False,
            kind="synthetic",
            description="Ackley, 5-d, [-15, 30]^5 (shifted so the minimum is off-centre)",
        ),
        Problem(
            "rosenbrock4",
            _box(4, -5, 10),
            rosenbrock,
            optimum=0.0,
            noise=False,
            kind="synthetic",
            description="Rosenbrock, 4-d, [-5, 10]^4",
        ),
        Problem(
            "levy5",
            _box(5, -10, 10),
            levy,
            optimum=0.0,
            noise=False,
            kind="synthetic",
            description="Levy, 5-d, [-10, 10]^5",
        ),
        Problem(
            "styblinski_tang5",
            _box(5, -5, 5),
            styblinski_tang,
            optimum=-39.16616570377142 * 5,
            noise=False,
            kind="synthetic",
            description="Styblinski-Tang, 5-d, [-5, 5]^5",
        ),
        Problem(
            "mixed",
            {
                "x": Float(-5, 5),
                "y": Float(-5, 5),
                "lr": Float(1e-5, 1.0, log=True),
                "layers": Int(1, 20),
                "kind": Categorical(["relu", "tanh", "sigmoid"]),
            },
            mixed,
            optimum=0.0,
            noise=False,
            kind="synthetic",
            description="2 floats, a log float, an int and a 3-way categorical (a quadratic bowl), minimum 0",
        ),
        Problem(
            "svm",
            {"C": Float(1e-2, 1e3, log=True), "gamma": Float(1e-5, 1e1, log=True)},
            svm,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="SVC (RBF) on breast_cancer, C and gamma log-scale; 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "decision_tree",
            {
                "max_depth": Int(1, 20),
                "min_samples_split": Int(2, 40),
                "min_samples_leaf": Int(1, 20),
                "criterion": Categorical(["gini", "entropy", "log_loss"]),
            },
            decision_tree,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="DecisionTreeClassifier on digits; 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "random_forest",
            {
                "n_estimators": Int(5, 25),
                "max_depth": Int(1, 12),
                "max_features": Float(0.05, 0.6),
            },
            random_forest,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="RandomForestClassifier on breast_cancer (5-25 trees); 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "knn",
            {
                "n_neighbors": Int(1, 50),
                "weights": Categorical(["uniform", "distance"]),
                "p": Categorical([1, 2]),
            },
            knn,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="KNeighborsClassifier on half of digits (899 images); 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "lasso",
            {"alpha": Float(1e-4, 10.0, log=True)},
            lasso,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="Lasso on diabetes, alpha log-scale; 3-fold CV mean squared error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "sgd",
            {
                "alpha": Float(1e-6, 1e-1, log=True),
                "l1_ratio": Float(0.0, 1.0),
                "loss": Categorical(["hinge", "log_loss", "modified_huber"]),
            },
            sgd,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="SGDClassifier (elastic net) on breast_cancer, alpha log-scale; 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "levy12",
            _box(12, -10, 10),
            functools.partial(levy, d=12),
            optimum=0.0,
            noise=False,
            kind="synthetic",
            description="Levy, 12-d, [-10, 10]^12 (every dimension active, multimodal)",
        ),
        Problem(
            "mlp",
            {
                "layers": Int(1, 3),
                "width": Int(4, 32, log=True),
                "activation": Categorical(["relu", "tanh", "logistic"]),
                "alpha": Float(1e-6, 1e-1, log=True),
                "learning_rate_init": Float(1e-4, 1e-1, log=True),
                "batch_size": Int(32, 256, log=True),
                "beta_1": Float(0.5, 0.99),
                "beta_2": Float(0.9, 0.9999),
                "epochs": Int(3, 20),
                "scaler": Categorical(["standard", "minmax"]),
            },
            mlp,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="MLPClassifier on breast_cancer, 10 hyperparameters (layers, width, optimiser, scaler); "
            "3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
        Problem(
            "conditional",
            {
                "model": Categorical(["svc", "logistic", "knn", "tree"]),
                "svc_C": Float(1e-2, 1e3, log=True),
                "svc_gamma": Float(1e-5, 1e1, log=True),
                "logistic_C": Float(1e-4, 1e2, log=True),
                "knn_k": Int(1, 50),
                "tree_depth": Int(1, 20),
            },
            conditional,
            optimum=None,
            noise=True,
            kind="sklearn",
            description="conditional space: a model choice (SVC, logistic, kNN, tree) and each model's own "
            "hyperparameters, used only when it is chosen; breast_cancer, 3-fold CV error",
            pool_size=_SKLEARN_POOL,
        ),
    ]
}

#: The problems of ``--quick``: 4 synthetic and 2 scikit-learn ones.
QUICK_PROBLEMS = ["branin", "hartmann6", "ackley5", "mixed", "svm", "decision_tree"]


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; choose from: {', '.join(PROBLEMS)}") from None
