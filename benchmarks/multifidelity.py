"""Multi-fidelity targets: Hyperband and ASHA against full-budget random search, PBT against fixed hyperparameters.

Run with ``make bench-mf`` (or ``python benchmarks/multifidelity.py [--seeds 10]``; target 3 alone for some of
its combinations at a given target: ``--combos 'random + hyperband,bayes + hyperband' --target 0.9694``).
Everything goes through ``hpmagic.optimize`` with ``tune.steps()`` / ``tune.report(state=...)``, so promoted and
cloned trials continue the saved model as they do in a notebook with ``--state``. Bundled data only
(``load_digits``), one thread.

Targets (median over the seeds):

1. Digits, ``SGDClassifier.partial_fit``, epochs 1..27, tuning ``alpha`` and ``eta0``: Hyperband (its whole
   schedule) and ASHA (stopped before it would pass the cap) reach the median best validation accuracy of random
   search with 40 configurations trained for the full 27 epochs, with at most a third of its total epochs.
2. Digits, ``MLPClassifier.partial_fit`` (SGD with momentum), a population of 8 adapting the learning rate in
   rounds of 3 epochs up to 30: PBT's best final validation log-loss is better (lower) than that of the same 8
   starting learning rates kept fixed for 30 epochs each (``--strategy random --trials 8`` with the same seed draws
   exactly PBT's initial population): the same total budget of 240 epochs. Log-loss rather than accuracy because
   on digits the accuracy of both saturates around 0.97, within a sample or two of 360.

3. The same SGD problem, samplers under schedulers (``strategy=..., scheduler=...``): ``bayes`` + ``hyperband``
   (BOHB-style: the GP learns from the results of the largest budget that has enough of them) reaches the target
   accuracy with fewer total epochs than ``random`` + ``hyperband``. The target is the median, over the seeds, of
   the best validation accuracy that full-budget random search (40 configurations x 27 epochs) reaches; all the
   strategies saturate near it, so "how many epochs until the best so far first reaches it" is the measure, not
   the final accuracy. Epochs are counted trial by trial in the order the trials ran (one at a time here), up to
   and including the trial whose value first reached the target; a run that never reaches it counts its total
   epochs and is flagged. "Met" means a lower median over the seeds. ``evolution`` + ``asha`` and ``bayes`` +
   ``asha`` run too (stopped at the same cap as ``asha``: a third of random search's epochs), without a target.

Total epochs are counted from the trials as ``sum(resource - start)``: the steps each trial actually trained.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import hpmagic
from hpmagic import tune
from hpmagic.events import Event, TrialFinished
from hpmagic.study import Study

SGD_BUDGET = (1, 27)
RANDOM_CONFIGS = 40
MLP_BUDGET = (1, 30)
POPULATION = 8
INTERVAL = 3
#: Target 3's runs: (label, sampler, scheduler). "random" alone is full-budget random search (the baseline).
COMBOS: tuple[tuple[str, str, str | None], ...] = (
    ("random (full budget)", "random", None),
    ("random + hyperband", "random", "hyperband"),
    ("bayes + hyperband", "bayes", "hyperband"),
    ("random + asha", "random", "asha"),
    ("evolution + asha", "evolution", "asha"),
    ("bayes + asha", "bayes", "asha"),
)


def digits(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Standardised digits split 60/20/20 into train, validation and test (the split is fixed by ``seed``)."""
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, random_state=seed, stratify=y)
    x_val, x_test, y_val, y_test = train_test_split(x_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train), y_train, scaler.transform(x_val), y_val, scaler.transform(x_test), y_test)


def sgd_objective(data: tuple[np.ndarray, ...]) -> Callable[[dict[str, Any]], float]:
    """The notebook's SGD cell as a function: one epoch per step, the model saved at each report."""
    x_train, y_train, x_val, y_val = data[:4]
    classes = np.unique(y_train)

    def fn(p: dict[str, Any]) -> float:
        restored = tune.restored()
        clf = (
            restored["clf"]
            if restored
            else SGDClassifier(alpha=p["alpha"], learning_rate="constant", eta0=p["eta0"], random_state=0)
        )
        for epoch in tune.steps():
            clf.partial_fit(x_train, y_train, classes=classes)
            tune.report(clf.score(x_val, y_val), step=epoch, state={"clf": clf})
        return clf.score(x_val, y_val)

    return fn


SGD_SPACE = {"alpha": tune.loguniform(1e-6, 1e-1), "eta0": tune.loguniform(1e-3, 1)}


def mlp_objective(data: tuple[np.ndarray, ...]) -> Callable[[dict[str, Any]], float]:
    """The PBT notebook's cell: an MLP trained with SGD whose learning rate a member may change between rounds.

    ``set_params`` alone does not reach a model that has already trained: scikit-learn keeps the rate in the
    model's optimizer (``_optimizer.learning_rate``), so a continued model gets it set there too.
    """
    x_train, y_train, x_val, y_val = data[:4]
    classes = np.unique(y_train)

    def fn(p: dict[str, Any]) -> float:
        restored = tune.restored()
        clf = (
            restored["clf"]
            if restored
            else MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", momentum=0.9, batch_size=64, random_state=0)
        )
        clf.set_params(learning_rate_init=p["lr"])
        if hasattr(clf, "_optimizer"):
            clf._optimizer.learning_rate = p["lr"]
        for epoch in tune.steps():
            clf.partial_fit(x_train, y_train, classes=classes)
            loss = log_loss(y_val, clf.predict_proba(x_val), labels=classes)
            tune.report(loss, step=epoch, state={"clf": clf})
        return loss

    return fn


MLP_SPACE = {"lr": tune.loguniform(1e-4, 1.0)}


def epochs(study: Study) -> int:
    """Steps actually trained: each trial from the step it restored to the last step it reported."""
    return sum(int(t.user_attrs.get("resource", 0)) - int(t.user_attrs.get("start", 0)) for t in study.trials)


def trace(study: Study) -> list[tuple[int, float]]:
    """``(epochs so far, best value so far)`` after each trial, in the order the trials ran (their numbers).

    Trials without a value (failed) add their epochs and leave the best unchanged. Only for maximised studies.
    """
    out, used, best = [], 0, -math.inf
    for t in sorted(study.trials, key=lambda t: t.number):
        used += int(t.user_attrs.get("resource", 0)) - int(t.user_attrs.get("start", 0))
        if t.value is not None and math.isfinite(t.value):
            best = max(best, float(t.value))
        out.append((used, best))
    return out


@dataclass(frozen=True)
class Run:
    """One study of target 3: its best value, total epochs, trials, and its best-so-far trace."""

    best: float
    epochs: int
    trials: int
    trace: tuple[tuple[int, float], ...]

    @classmethod
    def of(cls, study: Study) -> Run:
        return cls(study.best_value, epochs(study), len(study.trials), tuple(trace(study)))

    def epochs_to(self, target: float) -> tuple[int, bool]:
        """Epochs until the best so far first reached ``target``, and whether it did (if not: all its epochs)."""
        for used, best in self.trace:
            if best >= target - 1e-12:
                return used, True
        return self.epochs, False


def final_pbt_value(study: Study) -> float:
    """PBT's result: the best member's value (the lowest loss) at the end of the last round."""
    last = max(int(t.user_attrs["round"]) for t in study.trials)
    return min(t.value for t in study.trials if t.user_attrs["round"] == last and t.value is not None)


class StopBeforeCap:
    """A reporter that stops a study before its next trial could take it past ``cap`` epochs."""

    def __init__(self, cap: int, step_max: int) -> None:
        self.cap, self.step_max, self.used = cap, step_max, 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, TrialFinished):
            attrs = event.trial.user_attrs
            self.used += int(attrs.get("resource", 0)) - int(attrs.get("start", 0))
            if self.used + self.step_max > self.cap:
                event.study.stop()


def run_sgd(
    seed: int,
    combos: Sequence[tuple[str, str, str | None]] = COMBOS,
    budget: tuple[int, int] = SGD_BUDGET,
    random_configs: int = RANDOM_CONFIGS,
) -> dict[str, Run]:
    """Every run of targets 1 and 3 on one seed, by label. If asha runs, the first combination must be full-budget
    random search, whose epochs set asha's cap.

    Target 1's rows are three of them: ``random`` is "random (full budget)", ``hyperband`` is "random +
    hyperband" (what ``--strategy hyperband`` means) and ``asha`` is "random + asha".
    """
    data = digits()
    fn = sgd_objective(data)
    common: dict[str, Any] = dict(seed=seed, direction="maximize", budget=budget)
    out: dict[str, Run] = {}
    cap = 0
    for label, sampler, scheduler in combos:
        if scheduler is None:
            study = hpmagic.optimize(fn, SGD_SPACE, strategy=sampler, n_trials=random_configs, **common)
            cap = epochs(study) // 3
        elif scheduler == "hyperband":
            study = hpmagic.optimize(fn, SGD_SPACE, strategy=sampler, scheduler=scheduler, n_trials=None, **common)
        else:
            stop = StopBeforeCap(cap, budget[1])
            study = hpmagic.optimize(
                fn, SGD_SPACE, strategy=sampler, scheduler=scheduler, n_trials=10_000, reporters=[stop], **common
            )
        out[label] = Run.of(study)
    return out


def run_pbt(seed: int) -> dict[str, tuple[float, int, int]]:
    """(final best validation log-loss, total epochs, trials) of PBT and of the fixed population."""
    data = digits()
    fn = mlp_objective(data)
    common = dict(seed=seed, direction="minimize", budget=MLP_BUDGET)
    pbt = hpmagic.optimize(
        fn,
        MLP_SPACE,
        strategy="pbt",
        strategy_options={"population": POPULATION, "interval": INTERVAL},
        n_trials=None,
        **common,
    )
    fixed = hpmagic.optimize(fn, MLP_SPACE, strategy="random", n_trials=POPULATION, **common)
    return {
        "pbt": (final_pbt_value(pbt), epochs(pbt), len(pbt.trials)),
        "fixed": (fixed.best_value, epochs(fixed), len(fixed.trials)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (at least 5 for the targets)")
    parser.add_argument("--only", choices=["sgd", "pbt"], help="run one of the two problems")
    parser.add_argument(
        "--combos",
        help="target 3 only, for these comma-separated labels (e.g. 'random + hyperband,bayes + hyperband'); "
        "without full-budget random search it needs --target",
    )
    parser.add_argument("--target", type=float, help="target 3's accuracy, instead of random search's median")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    seeds = range(args.seeds)
    began = time.perf_counter()
    if args.combos:
        wanted = [c.strip() for c in args.combos.split(",")]
        combos = [c for c in COMBOS if c[0] in wanted]
        if len(combos) != len(wanted):
            parser.error(f"--combos: choose among {', '.join(c[0] for c in COMBOS)}")
        if combos[0][0] != COMBOS[0][0] and args.target is None:
            parser.error("--combos without full-budget random search needs --target")
        if any(c[2] == "asha" for c in combos) and combos[0][0] != COMBOS[0][0]:
            parser.error("--combos: asha runs stop at a third of full-budget random search's epochs; include it")
        report_combos([run_sgd(s, combos) for s in seeds], args.target)
    elif args.only != "pbt":
        runs = [run_sgd(s) for s in seeds]
        report_sgd([{k: (r[v].best, r[v].epochs, r[v].trials) for k, v in TARGET1_ROWS.items()} for r in runs])
        report_combos(runs, args.target)
    if args.only != "sgd" and not args.combos:
        runs_pbt = [run_pbt(s) for s in seeds]
        report_pbt(runs_pbt)
    print(f"\n{len(seeds)} seeds, {time.perf_counter() - began:.0f} s")


#: Target 1's table rows (their names as the report has always shown them) and the runs they come from.
TARGET1_ROWS = {"random": "random (full budget)", "hyperband": "random + hyperband", "asha": "random + asha"}


def _median(runs: list[dict[str, tuple]], name: str, i: int) -> float:
    return statistics.median(r[name][i] for r in runs)


def report_sgd(runs: list[dict[str, tuple[float, int, int]]]) -> None:
    print(
        f"\n### Digits, SGDClassifier.partial_fit, epochs {SGD_BUDGET[0]}..{SGD_BUDGET[1]} "
        f"(median over {len(runs)} seeds)\n"
    )
    print("| strategy | best val. accuracy | total epochs | epochs vs random | trials | target |")
    print("|---|---|---|---|---|---|")
    base_acc, base_epochs = _median(runs, "random", 0), _median(runs, "random", 1)
    for name in ("random", "hyperband", "asha"):
        acc, used, trials = (_median(runs, name, i) for i in range(3))
        if name == "random":
            target = "baseline"
        else:
            ok = acc >= base_acc and used <= base_epochs / 3
            target = f"{'met' if ok else 'MISSED'} (accuracy {acc - base_acc:+.4f}, epochs {used / base_epochs:.0%})"
        print(f"| {name} | {acc:.4f} | {used:.0f} | {used / base_epochs:.0%} | {trials:.0f} | {target} |")
    print("\nper seed (best val. accuracy / epochs):")
    for i, r in enumerate(runs):
        print(f"- seed {i}: " + ", ".join(f"{k} {v[0]:.4f} / {v[1]}" for k, v in r.items()))


def report_combos(runs: list[dict[str, Run]], target: float | None = None) -> None:
    """Target 3: epochs until the best so far reached the target, per seed and summarised.

    The target is the median best accuracy of the first combination (full-budget random search) unless given.
    """
    labels = list(runs[0])
    baseline = labels[0]
    given = target is not None
    if target is None:
        target = statistics.median(r[baseline].best for r in runs)
    print(
        f"\n### Digits, SGDClassifier.partial_fit, epochs {SGD_BUDGET[0]}..{SGD_BUDGET[1]}: samplers under schedulers, "
        f"epochs to the target accuracy {target:.4f} ({len(runs)} seeds)\n"
    )
    origin = (
        "given on the command line"
        if given
        else f"the median over the seeds of the best validation accuracy of {baseline}"
    )
    print(
        f"Target: {origin}. Epochs: steps trained until the best so far first reached it (* = never reached: all the "
        "run's epochs).\n"
    )
    print("| seed | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 1) + "|")
    reached: dict[str, list[tuple[int, bool]]] = {label: [r[label].epochs_to(target) for r in runs] for label in labels}
    for i in range(len(runs)):
        cells = [f"{reached[label][i][0]}{'' if reached[label][i][1] else '*'}" for label in labels]
        print(f"| {i} | " + " | ".join(cells) + " |")
    print()
    print(
        "| strategy | epochs to target, median | mean | reached | best val. accuracy, median | "
        "total epochs, median | trials, median |"
    )
    print("|---|---|---|---|---|---|---|")
    for label in labels:
        used = [e for e, _ok in reached[label]]
        hits = sum(ok for _e, ok in reached[label])
        print(
            f"| {label} | {statistics.median(used):.0f} | {statistics.mean(used):.0f} | {hits}/{len(runs)} | "
            f"{statistics.median(r[label].best for r in runs):.4f} | "
            f"{statistics.median(r[label].epochs for r in runs):.0f} | "
            f"{statistics.median(r[label].trials for r in runs):.0f} |"
        )
    if "bayes + hyperband" in reached and "random + hyperband" in reached:
        bohb = statistics.median(e for e, _ok in reached["bayes + hyperband"])
        hb = statistics.median(e for e, _ok in reached["random + hyperband"])
        verdict = "met" if bohb < hb else "MISSED"
        print(
            f"\nTarget (bayes + hyperband needs fewer epochs to the target than random + hyperband, median over "
            f"{len(runs)} seeds): **{verdict}** ({bohb:.0f} vs {hb:.0f} epochs)."
        )


def report_pbt(runs: list[dict[str, tuple[float, int, int]]]) -> None:
    print(
        f"\n### Digits, MLPClassifier.partial_fit, population {POPULATION}, rounds of {INTERVAL} epochs up to "
        f"{MLP_BUDGET[1]} (median over {len(runs)} seeds)\n"
    )
    print("| strategy | final best val. log-loss | total epochs | trials | target |")
    print("|---|---|---|---|---|")
    base = _median(runs, "fixed", 0)
    for name in ("fixed", "pbt"):
        loss, used, trials = (_median(runs, name, i) for i in range(3))
        target = "baseline" if name == "fixed" else f"{'met' if loss < base else 'MISSED'} ({loss - base:+.4f})"
        print(f"| {name} | {loss:.4f} | {used:.0f} | {trials:.0f} | {target} |")
    print("\nper seed (final best val. log-loss):")
    for i, r in enumerate(runs):
        print(f"- seed {i}: " + ", ".join(f"{k} {v[0]:.4f}" for k, v in r.items()))


if __name__ == "__main__":
    main()
