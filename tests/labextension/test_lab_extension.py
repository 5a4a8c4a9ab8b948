"""The JupyterLab extension in a real JupyterLab and Chromium: the Studies panel, a study page, Stop, Tune This Cell,
and HTML/JS payloads in names and values staying text."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.browser.conftest import (
    JupyterLab,
    diagnostics,
    execution_count,
    open_notebook,
    run_all,
    screenshot,
    wait_for_cell_done,
    wait_until,
    write_notebook,
)

from .conftest import open_studies_panel, study_row

LIVE_CELL = """\
%%tune --strategy random --trials {trials} --seed 0 --name {name}
import time
x = tune.uniform(-2, 2)
lr = tune.loguniform(1e-3, 1.0)
time.sleep({sleep})
print("x is", x)
(x - 0.5) ** 2 + lr
"""


def row_cells(page: Any, name: str) -> dict[str, str]:
    row = study_row(page, name)
    if row.count() == 0:
        return {}
    return {
        "state": row.get_attribute("data-state") or "",
        "trials": row.locator(".jp-hpmagic-trials").inner_text(),
        "best": row.locator(".jp-hpmagic-best").inner_text(),
    }


def test_panel_lists_a_running_study_updates_it_and_opens_its_page(page: Any, lab: JupyterLab) -> None:
    path = write_notebook(
        lab.root_dir,
        "lab_live.ipynb",
        ["%load_ext hpmagic", LIVE_CELL.format(trials=10, name="lab-live", sleep=0.4)],
    )
    open_notebook(page, lab.base_url, path)
    panel = open_studies_panel(page)
    run_all(page)
    first = wait_until(
        lambda: (c := row_cells(page, "lab-live")) and c["state"] == "running" and c,
        60,
        lambda: f"no running row for lab-live: {panel.inner_text()}" + diagnostics(page, lab),
    )
    later = wait_until(
        lambda: (c := row_cells(page, "lab-live")) and c["trials"] != first["trials"] and c,
        20,
        lambda: f"the row did not update while the study ran ({first})" + diagnostics(page, lab),
    )
    assert later["state"] == "running" or later["trials"].startswith("10/10"), later
    screenshot(page, "lab-studies-panel-running")
    wait_for_cell_done(page, 1, timeout=90)
    done = wait_until(
        lambda: (c := row_cells(page, "lab-live")) and c["state"] == "finished" and c,
        10,
        lambda: f"the row did not show the end: {row_cells(page, 'lab-live')}",
    )
    assert done["trials"].startswith("10/10"), done
    assert re.match(r"^-?[\d.e+-]+ ↓$", done["best"]), done

    study_row(page, "lab-live").click()
    study_page = page.locator(".jp-hpmagic-StudyPage:visible")
    study_page.locator(".jp-hpmagic-trials tbody tr").first.wait_for()
    assert study_page.locator(".jp-hpmagic-trials tbody tr").count() == 10
    page.wait_for_function(
        "() => { const img = document.querySelector('.jp-hpmagic-StudyPage:not(.lm-mod-hidden) img.jp-hpmagic-plot');"
        " return img && img.complete && img.naturalWidth > 100; }"
    )
    assert "lab-live" in study_page.locator(".jp-hpmagic-studyName").inner_text()
    assert "x = tune.uniform(-2, 2)" in study_page.locator(".jp-hpmagic-source").inner_text()
    # Sorting by value asks the server for another page, best first.
    study_page.locator("button.jp-hpmagic-sort[data-column=value]").click()
    page.wait_for_function(
        "() => { const cells = [...document.querySelectorAll('.jp-hpmagic-StudyPage:not(.lm-mod-hidden) "
        ".jp-hpmagic-trials tbody tr td:nth-child(3)')].map(td => parseFloat(td.textContent));"
        " return cells.length === 10 && cells.every((v, i) => i === 0 || cells[i - 1] <= v); }"
    )
    # A trial's captured output, on demand.
    study_page.locator(".jp-hpmagic-trials tbody tr").first.locator("button.jp-hpmagic-link").click()
    assert "x is" in study_page.locator(".jp-hpmagic-detail pre.jp-hpmagic-output").inner_text()
    study_page.locator(".jp-hpmagic-tab[data-kind=parallel]").click()
    time.sleep(0.5)
    screenshot(page, "lab-study-page")


def test_stop_from_the_panel_stops_a_study_running_in_the_notebook(page: Any, lab: JupyterLab) -> None:
    path = write_notebook(
        lab.root_dir,
        "lab_stop.ipynb",
        ["%load_ext hpmagic", LIVE_CELL.format(trials=200, name="lab-stop", sleep=0.3)],
    )
    open_notebook(page, lab.base_url, path)
    open_studies_panel(page)
    run_all(page)
    wait_until(
        lambda: (c := row_cells(page, "lab-stop")) and c["state"] == "running" and c["trials"] != "0/200",
        60,
        lambda: f"lab-stop never ran: {row_cells(page, 'lab-stop')}" + diagnostics(page, lab),
    )
    study_row(page, "lab-stop").locator("button.jp-hpmagic-stop").click()
    began = time.monotonic()
    wait_for_cell_done(page, 1, timeout=30)
    took = time.monotonic() - began
    final = wait_until(
        lambda: (c := row_cells(page, "lab-stop")) and c["state"] != "running" and c,
        10,
        lambda: f"the row still shows running: {row_cells(page, 'lab-stop')}",
    )
    assert final["state"] == "stopped", final
    done = int(final["trials"].split("/")[0])
    assert done < 200 and took < 15, (final, took)
    screenshot(page, "lab-stopped-from-panel")


def test_tune_this_cell_adds_the_magic_and_the_load_ext_cell(page: Any, lab: JupyterLab) -> None:
    path = write_notebook(lab.root_dir, "lab_tune_cell.ipynb", ["import math", "lr = 0.1\nscore = lr * 2\nscore"])
    open_notebook(page, lab.base_url, path)
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(1)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    # The toolbar button (from the settings schema), as a person would click it.
    button = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar [data-command='hpmagic:tune-cell']")
    button.first.click()
    sources = wait_until(
        lambda: len(s := notebook_sources(page)) == 3 and s,
        10,
        lambda: f"no %load_ext cell was added: {notebook_sources(page)}",
    )
    assert sources[0] == "import math" and sources[1] == "%load_ext hpmagic", sources
    assert sources[2].startswith("%%tune --trials 20\nlr = 0.1"), sources
    # Again from the command palette's command: nothing doubles.
    page.evaluate("() => window.jupyterapp.commands.execute('hpmagic:tune-cell')")
    time.sleep(0.5)
    assert notebook_sources(page) == sources
    # The context menu has the entry too.
    cell.locator(".jp-InputArea-editor").click(button="right")
    assert page.locator(".lm-Menu-itemLabel", has_text="Tune This Cell").first.is_visible()
    page.keyboard.press("Escape")
    screenshot(page, "lab-tune-this-cell")
    # A kernel that has hpmagic loaded already (here by a silent request) needs no %load_ext cell, even at the top.
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        ".requestExecute({code: '%load_ext hpmagic', silent: true}).done"
    )
    page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.model.sharedModel.insertCell(0, {cell_type: 'code', source: 'y = 2'}); nb.activeCellIndex = 0; }"
    )
    page.evaluate("() => window.jupyterapp.commands.execute('hpmagic:tune-cell')")
    top = wait_until(
        lambda: (s := notebook_sources(page))[0].startswith("%%tune") and s,
        10,
        lambda: f"the top cell was not made a %%tune cell: {notebook_sources(page)}",
    )
    assert top[0] == "%%tune --trials 20\ny = 2" and top[1:] == sources, top


def notebook_sources(page: Any) -> list[str]:
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.map(c => c.model.sharedModel.getSource())"
    )


PAYLOAD = '<img src=x onerror="window.__hpmagic_xss=1;alert(1)"><script>window.__hpmagic_xss=2</script>'


def test_html_and_js_payloads_stay_text(page: Any, lab: JupyterLab) -> None:
    name = f"xss {PAYLOAD}"
    cell = (
        f"%%tune --strategy random --trials 3 --seed 1 --name '{name}'\n"
        f"mode = tune.choice(['{PAYLOAD}', 'plain'])\n"
        f"print('{PAYLOAD}')\n"
        "1.0 if mode == 'plain' else 2.0\n"
    )
    path = write_notebook(lab.root_dir, "lab_xss.ipynb", ["%load_ext hpmagic", cell])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_notebook(page, lab.base_url, path)
    open_studies_panel(page)
    run_all(page)
    wait_for_cell_done(page, 1, timeout=60)
    assert execution_count(page, 1).isdigit()
    row = wait_until(
        lambda: (r := page.locator("#hpmagic-studies tr.jp-hpmagic-studyRow", has_text="xss <img")).count() and r,
        20,
        lambda: "the payload study is not listed" + diagnostics(page, lab),
    )
    assert PAYLOAD in row.first.locator(".jp-hpmagic-name").inner_text()
    row.first.click()
    study_page = page.locator(".jp-hpmagic-StudyPage:visible")
    study_page.locator(".jp-hpmagic-trials tbody tr").first.wait_for()
    assert PAYLOAD in study_page.locator(".jp-hpmagic-trials").inner_text()
    study_page.locator(".jp-hpmagic-trials tbody tr").first.locator("button.jp-hpmagic-link").click()
    assert PAYLOAD in study_page.locator(".jp-hpmagic-detail pre").first.inner_text()
    time.sleep(1.0)
    assert dialogs == []
    assert page.evaluate("() => window.__hpmagic_xss === undefined")
    assert page.locator("#hpmagic-studies img, #hpmagic-studies script").count() == 0
    assert page.locator(".jp-hpmagic-trials img, .jp-hpmagic-trials script, .jp-hpmagic-detail img").count() == 0
    screenshot(page, "lab-payloads-as-text")
