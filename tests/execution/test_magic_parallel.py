"""``%%tune --jobs`` / ``--cluster`` / ``--resources`` from the magic: in an IPython shell and in a real kernel."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.error import UsageError

from hpmagic import load_study
from hpmagic.execution import close_local_clusters
from tests.magic.conftest import run

CELL = (
    "w = tune.uniform(0, 4)\nmodel = {'w': w, 'bias': offset}\nlosses = [(w - 1.5) ** 2 + model['bias']]\nlosses[0]\n"
)


def last_error(ip: Any) -> BaseException | None:
    return getattr(sys, "last_value", None)


def test_jobs_runs_the_cell_on_workers_and_publishes_the_best_trials_variables(ip: Any) -> None:
    ip.user_ns["offset"] = 0.25  # a notebook variable the cell reads: it travels to the workers
    ip.user_ns["unrelated"] = threading.Lock()  # not read by the cell: never sent, so it need not be picklable
    try:
        assert run(
            ip, "--strategy random --trials 8 --seed 0 --jobs 2 --name par-magic --storage :memory:", CELL
        ).success
        study = ip.user_ns["tune"].study
        assert len(study.trials) == 8 and len({t.user_attrs["worker"] for t in study.trials}) == 2
        best = study.best_trial
        # The best trial ran on a worker; its variables came back into the notebook.
        assert ip.user_ns["model"] == {"w": best.params["w"], "bias": 0.25}
        assert ip.user_ns["losses"] == [best.value]
        assert ip.user_ns["w"] == best.params["w"]
    finally:
        close_local_clusters()


def test_a_variable_that_cannot_travel_is_a_one_line_error_naming_it(ip: Any, tmp_path: Path) -> None:
    ip.user_ns["lock"] = threading.Lock()
    ip.user_ns["offset"] = 0.0
    cell = "w = tune.uniform(0, 1)\nwith lock:\n    v = w + offset\nv\n"
    storage = str(tmp_path / "s.db")
    try:
        ip.run_cell(f"%%tune --jobs 2 --trials 3 --storage {storage} --name locked\n{cell}")
        error = last_error(ip)
        assert isinstance(error, UsageError)
        assert "the cell reads 'lock' (lock)" in str(error) and "create lock inside the cell" in str(error)
        assert "\n" not in str(error)
    finally:
        close_local_clusters()
    from hpmagic import Storage

    assert Storage(storage).list_studies() == []  # refused before a study was written


def test_an_unreachable_cluster_is_a_usage_error(ip: Any) -> None:
    ip.run_cell("%%tune --cluster tcp://127.0.0.1:9 --trials 2 --storage :memory:\nw = tune.uniform(0, 1)\nw\n")
    error = last_error(ip)
    assert isinstance(error, UsageError) and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in str(error)


def test_resources_without_workers_is_a_usage_error(ip: Any) -> None:
    ip.run_cell("%%tune --resources GPU=1 --trials 2 --storage :memory:\nw = tune.uniform(0, 1)\nw\n")
    error = last_error(ip)
    assert isinstance(error, UsageError) and "--resources needs workers" in str(error)
    ip.run_cell("%%tune --resources GPU --jobs 2 --trials 2 --storage :memory:\nw = tune.uniform(0, 1)\nw\n")
    assert "NAME=AMOUNT" in str(last_error(ip))


def test_cluster_address_from_a_real_kernel(scheduler_address: str, tmp_path: Path) -> None:
    """A notebook in a real kernel sends its trials to a cluster the test started (dask scheduler + 2 workers)."""
    from tests.notebooks.helpers import execute

    cells = [
        "%load_ext hpmagic",
        "import math, time\nscale = 3.0",
        f"%%tune --strategy bayes --trials 10 --seed 0 --cluster {scheduler_address} --name on-cluster\n"
        # Each trial sleeps so two are in flight at once: Dask may put back-to-back quick tasks on one worker.
        "a = tune.uniform(-2, 2)\nb = tune.int(1, 5)\ntime.sleep(0.3)\nresult = math.cos(a * scale) + b / 10\nresult",
        "print('published', result == tune.study.best_value)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "cluster.ipynb"
    nbformat.write(nb, path)
    workdir = tmp_path / "run"
    workdir.mkdir()
    executed = execute(path, workdir, timeout=300)
    out = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    assert "published True" in out
    study = load_study("on-cluster", workdir / "hpmagic.db")
    assert len(study.trials) == 10 and all(t.state.value == "complete" for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2


def test_markers_created_while_the_cell_runs_work_on_workers(ip: Any) -> None:
    cell = (
        "n_layers = tune.int(1, 3)\n"
        "units = [tune.int(8, 64, log=True, name=f'units_{i}') for i in range(n_layers)]\n"
        "sum(units) / 100 + n_layers\n"
    )
    try:
        line = "--strategy evolution --options population=4,tournament=2 --trials 10 --seed 2 --jobs 2"
        line += " --storage :memory:"
        assert run(ip, line, cell).success
        study = ip.user_ns["tune"].study
        assert len(study.trials) == 10 and all(t.state.value == "complete" for t in study.trials)
        for trial in study.trials:
            n = trial.params["n_layers"]
            assert sorted(k for k in trial.params if k.startswith("units_")) == [f"units_{i}" for i in range(n)]
            assert all(8 <= trial.params[f"units_{i}"] <= 64 for i in range(n))
        assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    finally:
        close_local_clusters()
