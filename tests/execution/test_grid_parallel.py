"""With --jobs 2, a grid over a conditional space runs each configuration once: a combination that may be the
configuration of the trial running beside it (the same kernel, another gamma) waits for that trial's end. A trial
that fails on a worker gives the line of the cell as the editor shows it."""

from __future__ import annotations

from typing import Any

from hpmagic.execution import close_local_clusters
from tests.magic.conftest import run

CELL = (
    "import time\n"
    "C = tune.choice([1, 10, 100])\n"
    'kernel = tune.choice(["linear", "rbf"])\n'
    'gamma = tune.choice([1e-3, 1e-4]) if kernel == "rbf" else "scale"\n'
    "time.sleep(0.2)\n"
    'C + (0 if gamma == "scale" else gamma)\n'
)


def test_a_conditional_grid_on_two_workers_runs_each_configuration_once(ip: Any) -> None:
    try:
        assert run(ip, "--strategy grid --jobs 2 --storage :memory:", CELL).success
        trials = ip.user_ns["tune"].study.trials
        configs = [tuple(sorted(t.params.items())) for t in trials]
        # 3 linear + 3 x 2 rbf, none twice (without waiting, each linear configuration ran once per gamma).
        assert len(configs) == 9 and len(set(configs)) == 9, configs
        assert len({t.user_attrs["worker"] for t in trials}) == 2  # still two trials at a time
    finally:
        close_local_clusters()


def test_a_trial_failing_on_a_worker_gives_the_editors_line(ip: Any) -> None:
    cell = "x = tune.uniform(0, 1)\n\nif x >= 0:\n    raise ValueError('boom')\nx\n"
    try:
        run(ip, "--strategy random --trials 2 --seed 0 --jobs 2 --storage :memory:", cell)
        trials = ip.user_ns["tune"].study.trials
        assert trials and all(t.user_attrs.get("worker") for t in trials)
        # The %%tune line is line 1, so the raise is on line 5.
        assert all("line 5" in t.traceback and "ValueError: boom" in t.traceback for t in trials), trials[0].traceback
    finally:
        close_local_clusters()
