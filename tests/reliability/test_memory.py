"""A trial's variables are freed when the trial ends (only the best trial's are kept), without waiting for the cycle
collector: a study of trials that each allocate a large array stays near one or two trials' worth of memory."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np

from tests.magic.conftest import run

MB = 1 << 20


def resident_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_trial_variables_are_freed_when_each_trial_ends(ip: Any) -> None:
    cell = (
        "scale = tune.uniform(0, 1)\n"
        "big = np.full(40 * 2**20 // 8, scale)  # 40 MB per trial\n"
        "def helper():\n"
        "    return big.sum()  # a function of the cell: its globals are the trial's namespace\n"
        "float(helper()) * 0 + scale\n"
    )
    ip.user_ns["np"] = np
    ip.run_line_magic("config", "TuneMagics.display = 'none'")
    gc.collect()
    gc.disable()  # what is freed here is freed by reference counting, not by the cycle collector
    try:
        before = resident_bytes()
        assert run(ip, "--strategy random --trials 8 --seed 0 --storage :memory:", cell).success
        grown = resident_bytes() - before
    finally:
        gc.enable()
        ip.run_line_magic("config", "TuneMagics.display = 'auto'")
    study = ip.user_ns["tune"].study
    assert len(study.trials) == 8
    best = ip.user_ns["big"]
    assert best[0] == study.best_trial.params["scale"]  # the best trial's variables are kept and published
    # 8 trials x 40 MB would be 320 MB if every namespace lived on: the best trial's array plus one running.
    print(f"kernel grew by {grown / MB:.0f} MB over 8 trials of 40 MB")
    assert grown < 120 * MB, f"the kernel grew by {grown / MB:.0f} MB"
