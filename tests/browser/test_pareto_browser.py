"""The Pareto tab in a real JupyterLab: click a point of a 2-objective %%tune study, "Use this trial", and the
kernel's variables are that trial's. Screenshot: test-artifacts/browser/pareto-*.png."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .conftest import (
    JupyterLab,
    diagnostics,
    open_notebook,
    output_text,
    run_all,
    run_cell,
    screenshot,
    wait_for_cell_done,
    wait_for_kernel_idle,
    wait_until,
    write_notebook,
)

NAME = "pareto-browser"
TUNE_CELL = """\
%%tune --strategy random --trials 12 --seed 3 --maximize acc --minimize size --name {name} --storage {storage}
a = tune.uniform(0, 1)
b = tune.uniform(0, 1)
picked = f"a={{a!r}} b={{b!r}}"
{{"acc": a, "size": a ** 2 + b}}
"""
CHECK_CELL = 'print("PICKED", picked)'
TAB = ".hpmagic-dashboard .hpmagic-pareto"


def _stored_params(storage: Path) -> dict[int, dict[str, Any]]:
    con = sqlite3.connect(f"file:{storage}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute(
            "SELECT t.number, t.params FROM trials t JOIN studies s ON s.id = t.study_id "
            "WHERE s.name = ? AND t.state = 'complete'",
            (NAME,),
        ).fetchall()
    finally:
        con.close()
    return {int(n): json.loads(p) for n, p in rows}


def _isolated_point(page: Any, avoid: set[int]) -> int:
    """A trial whose button no other button overlaps (a real click lands on it), not one of ``avoid``."""
    boxes = page.locator(f"{TAB} .hpmagic-pareto-point").evaluate_all(
        """(els) => els.map((el) => {
            const r = el.getBoundingClientRect();
            const n = [...el.classList].find((c) => c.startsWith('hpmagic-pt-')).slice('hpmagic-pt-'.length);
            return [Number(n), r.x + r.width / 2, r.y + r.height / 2];
        })"""
    )
    assert boxes, "the Pareto tab has no clickable points" + diagnostics(page)
    best, room = None, -1.0
    for n, x, y in boxes:
        if n in avoid:
            continue
        gap = min((((x - x2) ** 2 + (y - y2) ** 2) ** 0.5 for m, x2, y2 in boxes if m != n), default=1e9)
        if gap > room:
            best, room = n, gap
    assert best is not None and room > 14, f"no point stands apart from the others: {boxes}"
    return best


def _picked_line(page: Any) -> str:
    return next((line for line in output_text(page, 2).splitlines() if line.startswith("PICKED")), "")


def test_click_a_point_then_use_this_trial_publishes_its_variables(page: Any, jupyter_lab: JupyterLab) -> None:
    storage = jupyter_lab.root_dir / f"{NAME}.db"
    path = write_notebook(
        jupyter_lab.root_dir,
        f"{NAME}.ipynb",
        ["%load_ext hpmagic", TUNE_CELL.format(name=NAME, storage=storage), CHECK_CELL],
    )
    open_notebook(page, jupyter_lab.base_url, path)
    run_all(page)
    wait_for_cell_done(page, 2, timeout=120)
    wait_for_kernel_idle(page)
    tab = page.locator(TAB)
    tab.wait_for(state="visible", timeout=60_000)
    labels = page.locator(".hpmagic-dashboard .hpmagic-explore .lm-TabBar-tabLabel").all_inner_texts()
    assert labels[0] == "Pareto front", labels
    image = page.locator(f"{TAB} .hpmagic-pareto-image")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0"), "the Pareto plot did not load"
    params = _stored_params(storage)
    assert len(params) == 12, params
    assert page.locator(f"{TAB} .hpmagic-pareto-point").count() == 12
    # after the study the notebook holds the published trial's variables (the front's best on acc)
    first = _picked_line(page)
    published = next(n for n, p in params.items() if first == f"PICKED a={p['a']!r} b={p['b']!r}")

    number = _isolated_point(page, avoid={published})
    page.locator(f"{TAB} .hpmagic-pt-{number}").click()
    detail = page.locator(f"{TAB} .hpmagic-pareto-detail")
    wait_until(
        lambda: f"trial {number}" in detail.inner_text(),
        15,
        lambda: f"clicking trial {number}'s point did not show it: {detail.inner_text()!r}" + diagnostics(page),
    )
    assert "acc" in detail.inner_text() and "size" in detail.inner_text()
    use = page.locator(f"{TAB} .hpmagic-use-trial")
    wait_until(lambda: use.is_enabled(), 10, lambda: "'Use this trial' stays disabled" + diagnostics(page))
    assert use.inner_text().strip() == f"Use trial {number}"
    screenshot(page, "pareto-selected")
    use.click()
    message = page.locator(f"{TAB} .hpmagic-pareto-message")
    wait_until(
        lambda: f"published trial {number}" in message.inner_text(),
        30,
        lambda: f"no 'published trial {number}' after the click: {message.inner_text()!r}" + diagnostics(page),
    )
    wait_for_kernel_idle(page)

    # in the kernel: the cell's variables are now the clicked trial's
    run_cell(page, 2)
    wait_for_cell_done(page, 2, timeout=30)
    wanted = params[number]
    wait_until(
        lambda: _picked_line(page) == f"PICKED a={wanted['a']!r} b={wanted['b']!r}",
        15,
        lambda: f"the kernel says {_picked_line(page)!r}, trial {number} has {wanted}" + diagnostics(page),
    )
    screenshot(page, "pareto-used")

    # the saved notebook's static copy carries the Pareto plot
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")

    def saved_copy() -> str:
        outputs = json.loads((jupyter_lab.root_dir / path).read_text())["cells"][1].get("outputs", [])
        return "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)

    wait_until(
        lambda: 'alt="Pareto front"' in saved_copy(),
        30,
        lambda: "the saved notebook's static copy has no Pareto plot" + diagnostics(page),
    )
    assert "hpmagic-static" in saved_copy() and "Pareto front:" in saved_copy()
