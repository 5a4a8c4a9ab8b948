"""With --jobs 2, a function of an earlier cell sees each trial's values on the workers too, and a None objective
stops the study after its first trial: the same rules as in the kernel, in a real IPython shell."""

from __future__ import annotations

from typing import Any

from hpmagic.execution import close_local_clusters
from hpmagic.trial import TrialState
from tests.magic.conftest import run


def test_functions_of_earlier_cells_see_each_trials_values_on_workers(ip: Any) -> None:
    # train() reads batch_size and calls make_model(), which reads width: both are assigned by the %%tune cell.
    ip.run_cell(
        "batch_size, width = 1000, 1000\n"
        "def make_model():\n"
        "    return {'width': width}\n"
        "def train():\n"
        "    return make_model()['width'] * 100 + batch_size\n"
    )
    cell = "batch_size = tune.int(1, 99)\nwidth = tune.int(1, 9)\nscore = train()\nscore\n"
    try:
        assert run(ip, "--strategy random --trials 6 --seed 0 --jobs 2 --storage :memory:", cell).success
        study = ip.user_ns["tune"].study
        assert len({t.user_attrs["worker"] for t in study.trials}) == 2
        for t in study.trials:
            assert t.value == t.params["width"] * 100 + t.params["batch_size"]
        assert ip.user_ns["score"] == study.best_value
        # The notebook's functions are the notebook's own again, not copies bound to a trial.
        assert ip.user_ns["train"].__globals__ is ip.user_ns
    finally:
        close_local_clusters()


def test_a_none_objective_stops_a_parallel_study(ip: Any, capsys: Any) -> None:
    try:
        run(
            ip,
            "--strategy random --trials 20 --seed 0 --jobs 2 --storage :memory:",
            "x = tune.uniform(0, 1)\nprint(x)\n",
        )
        trials = ip.user_ns["tune"].study.trials
        # The first to finish fails; the one in flight beside it is cancelled or fails the same way; no more start.
        assert len(trials) <= 2 and TrialState.FAILED in {t.state for t in trials}
        assert {t.state for t in trials} <= {TrialState.FAILED, TrialState.INTERRUPTED}
        assert "the objective is None" in capsys.readouterr().out
    finally:
        close_local_clusters()
