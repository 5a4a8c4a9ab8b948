"""A longer campaign of generated bad inputs (``make fuzz``): what users' cells return, print and raise, bad option
values for ``optimize``, and bad cells for the magic's parser. Prints a table of outcomes per class.

    python -m tests.reliability.fuzz [--cases 300] [--seed 0]

Outcomes: clean (the study ran every trial to a final state, or the bad input was a one-line HpmagicError),
internal (an exception from hpmagic's own code escaped), escaped (a user exception escaped the trial), hang (a case
took longer than its deadline), wrong (a trial left 'running', a trial lost, or an error message over one line).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import threading
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import hpmagic  # noqa: E402
from hpmagic import tune  # noqa: E402
from hpmagic.cell import build_objective  # noqa: E402
from hpmagic.errors import HpmagicError  # noqa: E402
from hpmagic.trial import TrialState  # noqa: E402
from tests.reliability.test_isolation import BEHAVIOUR  # noqa: E402

DEADLINE = 60.0


def _trials_case(example: list[tuple[str, Any]], workdir: str) -> str:
    def fn(params: dict[str, Any]) -> Any:
        kind, what = example[params["i"]]
        if kind == "return":
            return what
        if kind == "print":
            print(what)
            return 1.0
        raise what("boom")

    try:
        study = hpmagic.optimize(
            fn,
            {"i": tune.choice(list(range(len(example))))},
            strategy="grid",
            n_trials=None,
            storage=os.path.join(workdir, "f.db"),
            max_failures=None,
        )
    except HpmagicError:
        return "internal"  # a store or engine refusal on valid input
    except BaseException as exc:  # noqa: BLE001 - classify whatever escapes
        return "escaped" if "boom" in str(exc) else "internal"
    if len(study.trials) != len(example):
        return "wrong"
    for t in study.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.FAILED) or (t.error and "\n" in t.error):
            return "wrong"
    return "clean"


CURRENT: list[object] = [None]  # the options case being run, named if it hangs
OPTION_VALUES = [0, -1, 1.5, "3", None, True, 10**30, float("inf"), float("nan"), [], {}, "grid", 2**63, -(2**70)]


def _options_case(rng: random.Random) -> str:
    kwargs = {
        name: rng.choice(OPTION_VALUES)
        for name in rng.sample(
            ["n_trials", "timeout", "seed", "max_failures", "threads", "repeats", "trial_timeout"], 2
        )
    }
    kwargs.setdefault("n_trials", 2)
    CURRENT[0] = kwargs
    try:
        hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", **kwargs)
    except HpmagicError as exc:
        return "clean" if "\n" not in str(exc) else "wrong"
    except BaseException:  # noqa: BLE001 - anything else is an internal error for bad options
        traceback.print_exc()
        return "internal"
    return "clean"


CELL_PIECES = [
    "x = tune.uniform(0, 1)\n",
    "yield x\n",
    "return x\n",
    "await x\n",
    "nonlocal x\n",
    "break\n",
    "def f():\n    return tune.uniform(0, 1)\n",
    "x = tune.choice([])\n",
    "x = tune.int(5, 1)\n",
    "(" * 300 + "1" + ")" * 300 + "\n",
    "x = tune.uniform(0, 1, name=3)\n",
    "x\n",
    "if True:\n",
    "print('\\udcff')\n",
    "x = tune.loguniform(0, 1)\n",
    "y = {'a': tune.uniform(0, 1)}\n",
]


def _cell_case(rng: random.Random) -> str:
    source = "".join(rng.choice(CELL_PIECES) for _ in range(rng.randint(1, 4)))
    try:
        build_objective(source, {"tune": tune})
    except HpmagicError as exc:
        return "clean" if "\n" not in str(exc).split("\n    ")[0] else "wrong"
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return "internal"
    return "clean"


def _with_deadline(run: Callable[[], str], what: list[object] | None = None) -> str:
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(run()), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if not result:
        print(f"hang: {what[0] if what else '?'!r}", flush=True)
    return result[0] if result else "hang"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    warnings.filterwarnings("ignore", message=".*example.*method")  # a campaign, not a test: .example() is meant
    table: dict[str, Counter[str]] = {"trial behaviours": Counter(), "optimize options": Counter(), "cells": Counter()}
    with tempfile.TemporaryDirectory() as workdir:
        for i in range(args.cases):
            example = [BEHAVIOUR.example() for _ in range(rng.randint(1, 5))]
            table["trial behaviours"][_with_deadline(lambda e=example: _trials_case(e, workdir))] += 1
            table["optimize options"][_with_deadline(lambda: _options_case(rng), CURRENT)] += 1
            table["cells"][_with_deadline(lambda: _cell_case(rng))] += 1
            if (i + 1) % 50 == 0:
                print(f"{i + 1} cases ...", flush=True)
    columns = ["clean", "internal", "escaped", "hang", "wrong"]
    print("\n| class | cases | " + " | ".join(columns) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in columns) + " |")
    for name, counts in table.items():
        print(f"| {name} | {sum(counts.values())} | " + " | ".join(str(counts[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
