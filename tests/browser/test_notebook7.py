"""The live %%tune dashboard in Jupyter Notebook 7 (the classic-style UI built on JupyterLab's components).

With the ``notebook`` package installed, the server of the ``jupyter_lab`` fixture also serves Notebook 7 at
``/notebooks/<path>``. This test opens a notebook there, runs a 30-trial %%tune study, stops it with the dashboard's
Stop button and checks the SQLite store. Notebook 7 does not get ``window.jupyterapp`` from the fixture's
``--LabApp.expose_app_in_browser``, so the kernel's state is read from the server's sessions API instead.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    NOTEBOOK_OPEN_TIMEOUT,
    TOKEN,
    JupyterLab,
    cell,
    diagnostics,
    execution_count,
    run_cell,
    screenshot,
    wait_for_cell_done,
    wait_until,
    write_notebook,
)

TRIALS = 30
NAME = "nb7"
TUNE_CELL = """\
%%tune --strategy random --trials {trials} --seed 0 --name {name} --storage {storage}
import time
x = tune.uniform(-2, 2)
time.sleep(0.4)
(x - 1) ** 2
"""
DASHBOARD = ".hpmagic-dashboard"


def _text(page: Any, selector: str) -> str:
    loc = page.locator(selector)
    return loc.first.inner_text() if loc.count() else ""


def _done_trials(page: Any) -> int:
    """N in the dashboard's "N/30 trials" text, -1 while it is not shown."""
    match = re.search(rf"(\d+)\s*/\s*{TRIALS} trials", _text(page, ".hpmagic-progress-text"))
    return int(match.group(1)) if match else -1


def _status(page: Any) -> str:
    return _text(page, ".hpmagic-status").strip()


def _dashboard_state(page: Any) -> str:
    return (
        f"\nprogress {_text(page, '.hpmagic-progress-text')!r}, status {_status(page)!r}, "
        f"stop button {page.locator('.hpmagic-stop').count()}"
    )


def _stored_trials(storage: Path, name: str) -> list[tuple[int, str]]:
    """(number, state) of the study's trials, read from the SQLite store without writing to it."""
    if not storage.exists():
        return []
    con = sqlite3.connect(f"file:{storage}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(
            "SELECT t.number, t.state FROM trials t JOIN studies s ON s.id = t.study_id WHERE s.name = ? "
            "ORDER BY t.number",
            (name,),
        ).fetchall()
    finally:
        con.close()


def _session_kernel_state(lab: JupyterLab, path: str) -> str | None:
    """The execution state of the kernel of the server's session for path, None without one."""
    for session in lab.api("/api/sessions"):
        if session.get("path") == path and session.get("kernel"):
            return session["kernel"].get("execution_state")
    return None


def _page_config(page: Any) -> dict[str, Any]:
    return json.loads(page.locator("#jupyter-config-data").first.text_content() or "{}")


def _open_in_notebook7(page: Any, lab: JupyterLab, path: str) -> dict[str, Any]:
    """Open path in the Notebook 7 UI, check that it is Notebook 7, wait until the kernel is idle; return its config."""
    page.goto(f"{lab.base_url}/notebooks/{path}?token={TOKEN}", timeout=NOTEBOOK_OPEN_TIMEOUT)
    config = _page_config(page)
    assert config.get("appName") == "Jupyter Notebook", f"not Notebook 7: {config.get('appName')!r}" + diagnostics(
        page, lab
    )
    assert config.get("notebookPage") == "notebooks", config.get("notebookPage")
    # Notebook 7's shell, not JupyterLab's.
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible", timeout=NOTEBOOK_OPEN_TIMEOUT)
    assert page.locator(".jp-LabShell").count() == 0, "the page is JupyterLab's shell" + diagnostics(page)
    wait_until(
        lambda: _session_kernel_state(lab, path) == "idle",
        NOTEBOOK_OPEN_TIMEOUT / 1000,
        lambda: f"kernel of {path} not idle (state {_session_kernel_state(lab, path)!r})" + diagnostics(page, lab),
    )
    return config


def test_notebook7_dashboard_stop(page: Any, jupyter_lab: JupyterLab) -> None:
    if os.environ.get("CI"):  # as with Chromium: a CI run must not pass without the test
        import notebook  # noqa: F401
    else:
        pytest.importorskip("notebook")
    pytest.importorskip("hpmagic.display.dashboard")
    storage = jupyter_lab.root_dir / f"{NAME}.db"
    path = write_notebook(
        jupyter_lab.root_dir,
        f"{NAME}.ipynb",
        ["%load_ext hpmagic", TUNE_CELL.format(trials=TRIALS, name=NAME, storage=storage)],
    )
    config = _open_in_notebook7(page, jupyter_lab, path)
    screenshot(page, "notebook7-opened")

    run_cell(page, 0)
    wait_for_cell_done(page, 0, timeout=60)
    assert (
        not cell(page, 0).locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count()
    ), "%load_ext hpmagic wrote to stderr" + diagnostics(page)
    run_cell(page, 1)

    page.locator(DASHBOARD).wait_for(state="visible", timeout=60_000)
    for cls in ("hpmagic-progress-text", "hpmagic-status", "hpmagic-stop", "hpmagic-table"):
        assert page.locator(f"{DASHBOARD} .{cls}").count() == 1, f"no .{cls} in the dashboard" + diagnostics(page)
    wait_until(
        lambda: _done_trials(page) >= 2,
        60,
        lambda: "the dashboard did not count 2 trials" + _dashboard_state(page) + diagnostics(page, jupyter_lab),
    )
    assert execution_count(page, 1) == "*", "the %%tune cell is no longer running" + _dashboard_state(page)
    screenshot(page, "notebook7-running")

    clicked_at = _done_trials(page)
    stop = page.locator(f"{DASHBOARD} .hpmagic-stop")
    assert stop.inner_text().strip() == "Stop", stop.inner_text()
    assert stop.is_enabled(), "Stop is disabled" + _dashboard_state(page)
    stop.click()
    wait_until(
        lambda: _status(page) == "stopped",
        15,
        lambda: (
            f"the study did not stop within 15 s of Stop at {clicked_at}/{TRIALS}"
            + _dashboard_state(page)
            + diagnostics(page, jupyter_lab)
        ),
    )
    wait_for_cell_done(page, 1, timeout=30)
    wait_until(
        lambda: _session_kernel_state(jupyter_lab, path) == "idle",
        30,
        lambda: f"kernel not idle after the stop (state {_session_kernel_state(jupyter_lab, path)!r})",
    )
    screenshot(page, "notebook7-stopped")

    trials = _stored_trials(storage, NAME)
    assert 2 <= len(trials) < TRIALS, (len(trials), trials)
    # Stop lets the running trial finish: nothing is left running or interrupted.
    assert {state for _, state in trials} == {"complete"}, trials
    assert len(trials) <= clicked_at + 3, f"Stop at {clicked_at} trials, {len(trials)} stored"
    assert f"{len(trials)}/{TRIALS} trials" in _text(page, ".hpmagic-progress-text"), _dashboard_state(page)
    print(f"Notebook {config.get('appVersion')}: stopped at {clicked_at}, {len(trials)} trials stored")
