"""Time limits that hold: --trial-timeout and the study's --timeout interrupt a trial that never returns, keep its
output, fail it with the reason, and the study ends or goes on as asked."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

import hpmagic
from hpmagic import tune
from hpmagic.trial import TrialState
from hpmagic.types import FinishReason
from tests.magic.conftest import run


def never_returns_for_high_x(params: dict[str, Any]) -> float:
    if params["x"] > 0.5:
        print("started the endless part")
        while True:  # a trial that never returns (and swallows ordinary exceptions)
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001, S112 - what careless user code does
                continue
    return params["x"]


def test_trial_timeout_fails_the_endless_trial_and_the_study_goes_on() -> None:
    study = hpmagic.optimize(
        never_returns_for_high_x, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=6, seed=1, trial_timeout=0.3
    )
    assert len(study.trials) == 6
    endless = [t for t in study.trials if t.params["x"] > 0.5]
    assert endless and all(t.state is TrialState.FAILED for t in endless)
    for trial in endless:
        assert trial.error == "timed out after 0.3 s (--trial-timeout)" and trial.user_attrs["timed_out"] is True
        assert trial.stdout == "started the endless part\n"  # the output so far is kept
    assert all(t.state is TrialState.COMPLETE for t in study.trials if t.params["x"] <= 0.5)


def test_the_study_timeout_interrupts_a_trial_that_never_returns() -> None:
    result: list[hpmagic.Study] = []

    def go() -> None:
        result.append(
            hpmagic.optimize(
                lambda p: never_returns_for_high_x({"x": 1.0}),
                {"x": tune.uniform(0, 1)},
                strategy="random",
                n_trials=50,
                timeout=0.5,
                max_failures=None,
            )
        )

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the study did not end at its time limit"
    study = result[0]
    assert study.last_finish is not None and study.last_finish.reason == FinishReason.TIMEOUT
    assert len(study.trials) == 1 and re.fullmatch(
        r"timed out after 0\.\d+ s \(the study's --timeout\)", study.trials[0].error
    )


def test_a_search_without_an_end_needs_trials_or_a_time_limit() -> None:
    with pytest.raises(hpmagic.OptionError, match="would run for ever"):
        hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", n_trials=None)
    # A grid ends by itself, and a time limit is an end too.
    assert (
        len(hpmagic.optimize(lambda p: p["k"], {"k": tune.choice([1, 2])}, strategy="grid", n_trials=None).trials) == 2
    )
    timed = hpmagic.optimize(lambda p: p["x"], {"x": tune.uniform(0, 1)}, strategy="random", n_trials=None, timeout=0.3)
    assert timed.last_finish is not None and timed.last_finish.reason == FinishReason.TIMEOUT


@pytest.mark.parametrize("bad", ["0", "-1s", "forever", "1e400"])
def test_trial_timeout_values_are_checked(ip: Any, bad: str) -> None:
    ip.run_cell(f"%%tune --trial-timeout {bad} --trials 1 --storage :memory:\nx = tune.uniform(0, 1)\nx\n")
    import sys

    assert "--trial-timeout" in str(sys.last_value)


def test_trial_timeout_from_the_magic(ip: Any) -> None:
    ip.user_ns["time"] = time
    cell = "x = tune.uniform(0, 1)\nif x > 0.5:\n    while True:\n        time.sleep(0.01)\nx\n"
    assert run(ip, "--strategy random --trials 5 --seed 3 --trial-timeout 0.2s --storage :memory:", cell).success
    study = ip.user_ns["tune"].study
    timed_out = [t for t in study.trials if t.user_attrs.get("timed_out")]
    assert timed_out and all(t.params["x"] > 0.5 for t in timed_out)
    assert len(study.trials) == 5
