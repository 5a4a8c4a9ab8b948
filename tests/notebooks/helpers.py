"""Running a notebook of notebooks/ for real, and reading what it printed and stored."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from hpmagic import Storage

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path, workdir: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """Run a copy of ``path`` in ``workdir`` with nbclient in the environment's ``python3`` kernel."""
    shutil.copy(path, workdir / path.name)
    nb = nbformat.read(workdir / path.name, as_version=4)
    # nbclient starts the "python3" kernel spec; with this set, jupyter_client picks the environment's own.
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    return nb


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed to stdout."""
    return "\n".join(
        "".join(o.get("text", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def studies(workdir: Path) -> dict[str, dict]:
    """The studies the notebook left in ``workdir/hpmagic.db``, by name."""
    store = Storage(workdir / "hpmagic.db")
    try:
        return {s["name"]: s for s in store.list_studies()}
    finally:
        store.close()


def assert_every_cell_ran(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None, cell.source
            assert not [o for o in cell.outputs if o.get("output_type") == "error"], cell.source
