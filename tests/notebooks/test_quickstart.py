"""notebooks/quickstart.ipynb runs, top to bottom, in a real kernel, and leaves its three studies in the store."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import nbformat
import pytest

from hpmagic import Storage, load_study
from tests.notebooks.helpers import NOTEBOOKS, execute

NOTEBOOK = NOTEBOOKS / "quickstart.ipynb"

# name of the study -> (strategy shown in its table, number of trials): a 4 x 4 grid, then 30 random and 30 bayes.
EXPECTED = {"svc-grid": ("grid", 16), "svc-random": ("random", 30), "svc-bayes": ("bayes", 30)}


def _text(output: dict) -> str:
    """Everything readable in one output: stream text, or text/html and text/plain of a display or result."""
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    data = output.get("data", {})
    return "\n".join("".join(data.get(kind, "")) for kind in ("text/html", "text/plain"))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    """The quickstart, run once in a fresh working folder (the module's tests share the run)."""
    workdir = tmp_path_factory.mktemp("quickstart")
    nb = execute(NOTEBOOK, workdir, timeout=600)
    return nb, workdir


def test_every_cell_ran_without_error(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = executed
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.execution_count is not None, cell.source
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        assert not errors, f"{cell.source!r} failed: {errors}"


def test_each_strategy_shows_its_results_table(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = executed
    tune_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("%%tune")]
    assert [c.source.split("--strategy ")[1].split()[0] for c in tune_cells] == ["grid", "random", "bayes"]
    for cell, (name, (strategy, n_trials)) in zip(tune_cells, EXPECTED.items(), strict=True):
        html = "\n".join(_text(o) for o in cell.outputs if o.get("output_type") == "display_data")
        assert f"Study {name} · {strategy} · maximize" in html
        assert f"{n_trials} complete of {n_trials} trials" in html
        rows = re.findall(r"<tr[^>]*><td>(\d+)</td>", html)  # one row per trial, at most 20 shown
        assert len(rows) == min(n_trials, 20)
        assert len(set(rows)) == len(rows)


def test_store_holds_the_three_studies(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    _, workdir = executed
    path = workdir / "hpmagic.db"
    assert path.is_file()
    store = Storage(path)
    try:
        studies = {s["name"]: s for s in store.list_studies()}
    finally:
        store.close()
    assert set(studies) == set(EXPECTED)
    for name, (strategy, n_trials) in EXPECTED.items():
        study = studies[name]
        assert study["strategy"] == strategy
        assert study["direction"] == "maximize"
        assert study["state"] == "finished"
        assert study["n_trials"] == study["n_complete"] == n_trials
        assert 0.5 < study["best_value"] <= 1.0
    # The same counts, read with plain sqlite3 (read-only), independent of hpmagic's reader.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        counts = dict(
            conn.execute(
                "SELECT s.name, COUNT(*) FROM trials t JOIN studies s ON s.id = t.study_id "
                "WHERE t.state = 'complete' GROUP BY s.name"
            ).fetchall()
        )
    assert counts == {name: n for name, (_, n) in EXPECTED.items()}


def test_bayes_study_shows_the_held_out_test_score_at_the_end(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, workdir = executed
    cell = next(c for c in nb.cells if c.cell_type == "code" and "--strategy bayes" in c.source)
    html = "\n".join(_text(o) for o in cell.outputs if o.get("output_type") == "display_data")
    assert "held-out test" in html and "gap" in html
    store = Storage(workdir / "hpmagic.db")
    try:
        study = load_study("svc-bayes", store)
        assert all(0.0 < t.user_attrs["test"] <= 1.0 for t in study.trials)
    finally:
        store.close()


def test_best_model_is_scored_once_on_the_test_split(executed: tuple[nbformat.NotebookNode, Path]) -> None:
    nb, _ = executed
    printed = "\n".join(
        _text(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "stream"
    )
    scores = re.findall(r"^test accuracy: (\S+)$", printed, flags=re.MULTILINE)
    assert len(scores) == 1, printed
    assert 0.0 < float(scores[0]) <= 1.0
    assert re.search(r"^best parameters \(svc-(grid|random|bayes)\): \{'C': .+, 'gamma': .+\}$", printed, re.M)
    # After the last %%tune, its best trial's variables and tune.best are in the namespace.
    assert "tune.best: {'C': " in printed
    assert "model: SVC(" in printed
