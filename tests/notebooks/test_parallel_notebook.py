"""notebooks/parallel.ipynb runs in a real kernel: --jobs 2 against --jobs 1 on a real scikit-learn model."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from hpmagic import load_study
from tests.notebooks.helpers import NOTEBOOKS, assert_every_cell_ran, execute, printed

PARALLEL = NOTEBOOKS / "parallel.ipynb"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("parallel")
    return execute(PARALLEL, workdir, timeout=600), workdir


def test_both_studies_ran_the_same_configurations_and_the_parallel_one_on_two_workers(run) -> None:
    nb, workdir = run
    assert_every_cell_ran(nb)
    serial = load_study("svc-serial", workdir / "hpmagic.db")
    parallel = load_study("svc-parallel", workdir / "hpmagic.db")
    assert len(serial.trials) == len(parallel.trials) == 16
    assert [t.params for t in serial.trials] == [t.params for t in parallel.trials]
    assert [t.value for t in serial.trials] == pytest.approx([t.value for t in parallel.trials])
    assert len({t.user_attrs["worker"] for t in parallel.trials}) == 2
    assert "worker" not in serial.trials[0].user_attrs


def test_the_notebook_reports_the_speedup_and_gets_the_best_model_back(run) -> None:
    nb, _ = run
    out = printed(nb)
    match = re.search(r"--jobs 1: ([\d.]+) s, --jobs 2: ([\d.]+) s, speedup ([\d.]+)x on 2 workers", out)
    assert match, out
    one, two, speedup = (float(g) for g in match.groups())
    assert speedup == pytest.approx(one / two, rel=0.05)
    assert "same best configuration: True" in out
    assert re.search(r"model: SVC\(C=", out) and re.search(r"test accuracy of the best model: 0\.9\d+", out)
