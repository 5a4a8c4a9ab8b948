"""The Hyperband/ASHA and PBT notebooks run top to bottom in a real kernel, and their results hold up.

Each notebook runs once per module (nbclient, the environment's ``python3`` kernel, a fresh working folder); the
tests then read what it printed and what it left in the study store, and recount the epochs from the stored trials
rather than trusting the notebook's own table.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from hpmagic import load_study
from hpmagic.strategies import pbt_schedule
from hpmagic.study import Study
from tests.notebooks.helpers import NOTEBOOKS, assert_every_cell_ran, execute, printed, studies

SGD = NOTEBOOKS / "hyperband_asha_sgd.ipynb"
PBT = NOTEBOOKS / "pbt_mlp.ipynb"


def total_epochs(study: Study) -> int:
    """Steps the trials trained: each from the step it restored (``start``) to the last step it reported."""
    return sum(t.user_attrs["resource"] - t.user_attrs.get("start", 0) for t in study.trials)


@pytest.fixture(scope="module")
def sgd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("hyperband-asha")
    return execute(SGD, workdir), workdir


@pytest.fixture(scope="module")
def pbt_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("pbt")
    return execute(PBT, workdir), workdir


@pytest.mark.parametrize("run", ["sgd_run", "pbt_run"])
def test_every_cell_ran_without_error(run: str, request: pytest.FixtureRequest) -> None:
    nb, _ = request.getfixturevalue(run)
    assert_every_cell_ran(nb)


# -- hyperband and asha -------------------------------------------------------------------------------------------


def test_hyperband_and_asha_use_a_third_of_random_searchs_epochs(sgd_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = sgd_run
    found = studies(workdir)
    assert set(found) == {"sgd-random", "sgd-hyperband", "sgd-asha"}
    expected = {"sgd-random": ("random", 40), "sgd-hyperband": ("hyperband", 69), "sgd-asha": ("asha", 150)}
    for name, (strategy, n_trials) in expected.items():
        study = found[name]
        assert (study["strategy"], study["direction"], study["state"]) == (strategy, "maximize", "finished")
        assert study["n_trials"] == study["n_complete"] == n_trials
        assert 0.9 < study["best_value"] <= 1.0
    db = workdir / "hpmagic.db"
    epochs = {name: total_epochs(load_study(name, db)) for name in expected}
    assert epochs["sgd-random"] == 40 * 27
    assert epochs["sgd-hyperband"] == 357  # the whole schedule, every promotion continuing its saved model
    assert epochs["sgd-asha"] <= epochs["sgd-random"] / 3
    # Multi-fidelity search comes within two validation images (of 359) of random search's best.
    assert found["sgd-hyperband"]["best_value"] >= found["sgd-random"]["best_value"] - 2 / 359
    assert found["sgd-asha"]["best_value"] >= found["sgd-random"]["best_value"] - 2 / 359

    text = printed(nb)
    for label, name in [("random", "sgd-random"), ("hyperband", "sgd-hyperband"), ("asha", "sgd-asha")]:
        row = re.search(rf"^{label}\s+(\d+)\s+(\d+)\s+\d+%\s+(\S+)", text, re.M)
        assert row, text
        assert int(row.group(1)) == expected[name][1] and int(row.group(2)) == epochs[name]
        assert float(row.group(3)) == pytest.approx(found[name]["best_value"], abs=1e-4)
    assert re.search(r"^test accuracy: 0\.9\d+$", text, re.M)


def test_hyperband_brackets_and_continued_trials(sgd_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = sgd_run
    text = printed(nb)
    table = re.findall(r"^\s+(\d)\s+(\d)\s+(\d+)\s+(\d+)$", text, re.M)
    assert [tuple(map(int, row)) for row in table] == [
        (3, 0, 1, 27), (3, 1, 3, 9), (3, 2, 9, 3), (3, 3, 27, 1),
        (2, 0, 3, 12), (2, 1, 9, 4), (2, 2, 27, 1),
        (1, 0, 9, 6), (1, 1, 27, 2),
        (0, 0, 27, 4),
    ]  # fmt: skip
    for name in ("sgd-hyperband", "sgd-asha"):
        study = load_study(name, workdir / "hpmagic.db")
        continued = [t for t in study.trials if "continues" in t.user_attrs]
        assert continued
        for trial in continued:
            earlier = study.trials[trial.user_attrs["continues"]]
            assert earlier.params == trial.params
            # --state clf worked in the kernel: the trial restored the earlier model and trained only the rest.
            assert trial.user_attrs["start"] == earlier.user_attrs["resource"] == earlier.user_attrs["budget"]
            steps = range(trial.user_attrs["start"] + 1, trial.user_attrs["budget"] + 1)
            assert [s for s, _ in trial.intermediate] == list(steps)


# -- pbt ----------------------------------------------------------------------------------------------------------


def test_pbt_records_a_schedule_with_exploit_events(pbt_run: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = pbt_run
    found = studies(workdir)
    assert set(found) == {"mlp-pbt", "mlp-fixed"}
    assert (found["mlp-pbt"]["strategy"], found["mlp-pbt"]["n_complete"]) == ("pbt", 80)
    assert (found["mlp-fixed"]["strategy"], found["mlp-fixed"]["n_complete"]) == ("random", 8)
    assert found["mlp-pbt"]["state"] == "finished"
    pbt = load_study("mlp-pbt", workdir / "hpmagic.db")
    assert total_epochs(pbt) == total_epochs(load_study("mlp-fixed", workdir / "hpmagic.db")) == 240

    schedule = pbt_schedule(pbt)
    assert list(schedule) == list(range(8))
    for rows in schedule.values():
        assert [(k, step) for k, step, _p, _v in rows] == [(k, 3 * (k + 1)) for k in range(10)]
    # Exploit events: a trial that continues a trial of another member (the donor) with a perturbed rate.
    exploits = [
        t
        for t in pbt.trials
        if "continues" in t.user_attrs
        and pbt.trials[t.user_attrs["continues"]].user_attrs["member"] != t.user_attrs["member"]
    ]
    assert len(exploits) == 18  # the bottom 2 of 8 after each of the first 9 rounds
    for t in exploits:
        donor = pbt.trials[t.user_attrs["continues"]]
        assert donor.user_attrs["member"] == t.user_attrs["donor"]
        assert donor.user_attrs["round"] == t.user_attrs["round"] - 1
        assert t.user_attrs["start"] == donor.user_attrs["resource"]  # the clone restored the donor's network
        assert 1e-4 <= t.params["lr"] <= 1.0
    assert len({p["lr"] for rows in schedule.values() for _k, _s, p, _v in rows}) > 8  # rates moved

    text = printed(nb)
    assert "18 exploit events in 80 trials" in text
    assert "PBT started from the fixed runs' learning rates: True" in text
    pbt_final = float(re.search(r"^PBT, best member after 10 rounds: validation log-loss (\S+)$", text, re.M).group(1))
    fixed = float(re.search(r"^fixed rates, best of 8: validation log-loss (\S+) ", text, re.M).group(1))
    assert fixed == pytest.approx(found["mlp-fixed"]["best_value"], abs=1e-4)
    assert pbt_final < fixed  # the example's claim (and the benchmark's target over 5 seeds)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the learning-rate plot
