"""``make bench-importance``: fANOVA and PED-ANOVA on synthetic functions whose important parameters are known.

Each problem names its parameters from most to least important (the noise ones last, in any order). A run draws a
random-search study of N trials with one seed and counts as right when every important parameter is ranked in its
place and above every noise parameter. Prints a markdown table: share of runs right, mean time per call.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hpmagic.fanova import importance
from hpmagic.ped_anova import ped_anova
from hpmagic.space import Categorical, Float, Int, Space
from hpmagic.study import create_study
from hpmagic.trial import Trial, TrialState

U = Float(0.0, 1.0)

# name -> (space, function, important parameters in order of importance)
PROBLEMS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], float], list[str]]] = {
    "linear 4:1:0": ({"x0": U, "x1": U, "x2": U}, lambda p: 4 * p["x0"] + p["x1"], ["x0", "x1"]),
    "bowl 10:2, 1 noise": (
        {"x0": U, "x1": U, "x2": U},
        lambda p: 10 * (p["x0"] - 0.3) ** 2 + 2 * (p["x1"] - 0.6) ** 2,
        ["x0", "x1"],
    ),
    "6-d, 3 noise": (
        {f"x{i}": U for i in range(6)},
        lambda p: 3 * p["x0"] + 1.5 * math.sin(2 * math.pi * p["x1"]) + 0.5 * p["x2"],
        ["x1", "x0", "x2"],  # variances 1.125, 0.75, 0.02
    ),
    "log lr, choice, int noise": (
        {"lr": Float(1e-5, 1e-1, log=True), "opt": Categorical(["adam", "sgd", "rms"]), "batch": Int(8, 256, log=True)},
        lambda p: (math.log10(p["lr"]) + 3) ** 2 + {"adam": 0.0, "sgd": 1.5, "rms": 0.75}[p["opt"]],
        ["lr", "opt"],
    ),
    "interaction x0*x1, x2 small": (
        {"x0": U, "x1": U, "x2": U, "x3": U},
        lambda p: 4 * p["x0"] * p["x1"] + 2 * p["x0"] + 0.5 * p["x2"],
        ["x0", "x1", "x2"],  # main effects 1.33, 0.33, 0.02 (and an interaction of 0.11)
    ),
}

METHODS: dict[str, Callable[[Any], dict[str, float]]] = {"fANOVA": importance, "PED-ANOVA": ped_anova}


def study_of(space: dict[str, Any], fn: Callable[[dict[str, Any]], float], n: int, seed: int) -> Any:
    study = create_study(space=Space(space), seed=seed)
    rng = np.random.default_rng(seed)
    for i in range(n):
        params = {name: dim.sample(rng) for name, dim in study.space.items()}
        study.trials.append(Trial(number=i, params=params, state=TrialState.COMPLETE, value=float(fn(params))))
    return study


def right(ranking: list[str], important: list[str]) -> bool:
    return ranking[: len(important)] == important


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, nargs="+", default=[30, 80])
    args = parser.parse_args()
    print("| problem | trials | " + " | ".join(f"{m} right | {m} ms" for m in METHODS) + " |")
    print("|---|---|" + "---|---|" * len(METHODS))
    totals = {m: 0 for m in METHODS}
    runs = 0
    for name, (space, fn, important) in PROBLEMS.items():
        for n in args.trials:
            cells = []
            for method, compute in METHODS.items():
                ok, spent = 0, 0.0
                for seed in range(args.seeds):
                    study = study_of(space, fn, n, seed)
                    began = time.perf_counter()
                    ranking = list(compute(study))
                    spent += time.perf_counter() - began
                    ok += right(ranking, important)
                totals[method] += ok
                cells.append(f"{ok}/{args.seeds} | {1000 * spent / args.seeds:.0f}")
            runs += args.seeds
            print(f"| {name} | {n} | " + " | ".join(cells) + " |")
    print()
    print("Overall right: " + ", ".join(f"{m} {totals[m]}/{runs}" for m in METHODS))


if __name__ == "__main__":
    main()
