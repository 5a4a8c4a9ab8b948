"""A saved notebook with a %%tune dashboard, reopened without its kernel, shows the static copy, not a widget error.

The live widget's model lives in the kernel; once the notebook is closed and the kernel gone, JupyterLab 4 and
Notebook 7 cannot draw it and say "Error displaying widget: model not found". The dashboard publishes a static copy
(results table and plot) as an output of its own, hidden while the live widget is on the page; reopened, the copy
shows and the widget's error line is hidden. Screenshots: test-artifacts/browser/reopen-*.png.
"""

from __future__ import annotations

import json
from typing import Any

from .conftest import (
    NOTEBOOK_OPEN_TIMEOUT,
    TOKEN,
    JupyterLab,
    diagnostics,
    open_notebook,
    run_all,
    screenshot,
    wait_for_cell_done,
    wait_until,
    write_notebook,
)

NAME = "reopen"
TUNE_CELL = """\
%%tune --strategy random --trials 6 --seed 0 --name {name} --storage {storage}
x = tune.uniform(-2, 2)
(x - 1) ** 2
"""
WIDGET_ERROR = "Error displaying widget"
VISIBLE_TEXT = """(text) => [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter((el) => el.textContent.includes(text) && el.getClientRects().length > 0
        && getComputedStyle(el).visibility !== 'hidden').length"""
PRESENT_TEXT = """(text) => [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter((el) => el.textContent.includes(text)).length"""


def _saved_outputs(lab: JupyterLab, path: str) -> list[dict[str, Any]]:
    nb = json.loads((lab.root_dir / path).read_text())
    return nb["cells"][1].get("outputs", [])


def _has_static_copy(outputs: list[dict[str, Any]]) -> bool:
    return any("hpmagic-static" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)


def _close_everything(lab: JupyterLab) -> None:
    """Shut down every session and kernel, as closing JupyterLab and stopping its kernels does."""
    for session in lab.api("/api/sessions"):
        lab.api(f"/api/sessions/{session['id']}", method="DELETE")
    for kernel in lab.api("/api/kernels"):
        lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")


def _check_reopened(page: Any, label: str) -> None:
    """The static copy is visible, and the widget's error line (once the front end gives up on it) is not."""
    static = page.locator(".hpmagic-static").first
    static.wait_for(state="visible", timeout=NOTEBOOK_OPEN_TIMEOUT)
    assert NAME in static.inner_text() and "6 complete of 6 trials" in static.inner_text(), static.inner_text()
    image = static.locator("img")
    assert image.count() == 1 and image.evaluate("img => img.complete && img.naturalWidth > 0"), label
    # After the restart, nothing pushes digits off the trial numbers, and the copy fits its output area.
    fit = static.evaluate(
        """(el) => {
            const area = el.closest('.jp-OutputArea-output').getBoundingClientRect();
            const rows = [...el.querySelectorAll('table tr')].slice(1);
            return {numbers: rows.map((tr) => tr.cells[0]).filter((td) => td.scrollWidth > td.clientWidth + 1
                        || td.textContent.trim() !== String(Number(td.textContent))).map((td) => td.textContent),
                    rows: rows.length,
                    wide: [...el.querySelectorAll('*')].filter((c) => c.getBoundingClientRect().right > area.right + 1)
                        .map((c) => c.tagName)};
        }"""
    )
    assert fit["rows"] == 6 and fit["numbers"] == [] and fit["wide"] == [], f"{label}: {fit}"
    # The widget manager reports the missing model only once it has tried the new kernel: wait for that line.
    wait_until(
        lambda: page.evaluate(PRESENT_TEXT, WIDGET_ERROR) > 0,
        60,
        lambda: f"{label}: the widget output never settled (no '{WIDGET_ERROR}' line)" + diagnostics(page),
    )
    assert page.evaluate(VISIBLE_TEXT, WIDGET_ERROR) == 0, f"{label}: the widget error is shown" + diagnostics(page)
    assert page.evaluate(VISIBLE_TEXT, "Loading widget") == 0, f"{label}: 'Loading widget...' is still shown"
    assert page.locator(".hpmagic-dashboard").count() == 0


def test_reopened_notebook_shows_the_static_copy(page: Any, browser: Any, jupyter_lab: JupyterLab) -> None:
    storage = jupyter_lab.root_dir / f"{NAME}.db"
    path = write_notebook(
        jupyter_lab.root_dir, f"{NAME}.ipynb", ["%load_ext hpmagic", TUNE_CELL.format(name=NAME, storage=storage)]
    )
    open_notebook(page, jupyter_lab.base_url, path)
    run_all(page)
    wait_for_cell_done(page, 1, timeout=120)
    page.locator(".hpmagic-dashboard .hpmagic-explore").wait_for(state="visible", timeout=60_000)
    # Live: the dashboard is shown and its static copy, in the same output area, is not.
    assert page.locator(".hpmagic-static").count() == 1
    assert not page.locator(".hpmagic-static").is_visible(), "the static copy shows next to the live dashboard"
    screenshot(page, "reopen-live")

    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    wait_until(
        lambda: _has_static_copy(_saved_outputs(jupyter_lab, path)),
        30,
        lambda: f"the saved notebook has no static copy: {_saved_outputs(jupyter_lab, path)}",
    )
    views = [o for o in _saved_outputs(jupyter_lab, path) if "application/vnd.jupyter.widget-view+json" in o["data"]]
    assert len(views) == 1, "the widget output is saved too (it comes back live with a kernel that has it)"
    page.context.close()
    _close_everything(jupyter_lab)

    # Reopened in JupyterLab.
    lab_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        lab_page = lab_context.new_page()
        open_notebook(lab_page, jupyter_lab.base_url, path)
        _check_reopened(lab_page, "JupyterLab")
        lab_page.locator(".hpmagic-static").first.scroll_into_view_if_needed()
        screenshot(lab_page, "reopen-jupyterlab")
    finally:
        lab_context.close()
    _close_everything(jupyter_lab)

    # Reopened in Notebook 7.
    nb7_context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        nb7_page = nb7_context.new_page()
        nb7_page.goto(f"{jupyter_lab.base_url}/notebooks/{path}?token={TOKEN}", timeout=NOTEBOOK_OPEN_TIMEOUT)
        _check_reopened(nb7_page, "Notebook 7")
        nb7_page.locator(".hpmagic-static").first.scroll_into_view_if_needed()
        screenshot(nb7_page, "reopen-notebook7")
    finally:
        nb7_context.close()
