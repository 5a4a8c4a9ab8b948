"""Every notebook in notebooks/ is committed valid and without outputs (the tests execute them)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.notebooks.helpers import NOTEBOOKS

PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_notebooks_are_there() -> None:
    assert {p.name for p in PATHS} >= {
        "quickstart.ipynb",
        "hyperband_asha_sgd.ipynb",
        "pbt_mlp.ipynb",
        "evolution_architecture.ipynb",
        "gradient_ridge.ipynb",
    }


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.get('id')} was committed with outputs"
            assert cell.execution_count is None
