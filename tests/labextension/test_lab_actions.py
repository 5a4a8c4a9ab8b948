"""The Studies panel's actions and conventions in a real JupyterLab and Chromium: Pause/Resume of a study running in
another kernel, Compare, keyboard access, Copy best parameters, Insert into notebook, Rename and Delete with their
confirmations; then settings taking effect, the panel restored with the workspace, the narrow sidebar and the dark
theme."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import hpmagic
from hpmagic import Float, Int
from tests.browser.conftest import (
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

from .conftest import open_studies_panel, study_row
from .test_lab_extension import LIVE_CELL, row_cells

# True once the visible study (or compare) page's plot has loaded.
PLOT_SHOWN = (
    "() => { const img = document.querySelector('.jp-hpmagic-StudyPage:not(.lm-mod-hidden) img.jp-hpmagic-plot');"
    " return img && img.complete && img.naturalWidth > 100; }"
)


def _objective(p: dict[str, Any]) -> float:
    return (p["x"] - 0.25) ** 2 + p["depth"] / 100


def make_studies(path: Path, names: dict[str, int]) -> None:
    """Finished random-search studies (name -> trials) in the store at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for seed, (name, n) in enumerate(names.items()):
        hpmagic.optimize(
            _objective,
            {"x": Float(-1, 1), "depth": Int(1, 8)},
            strategy="random",
            n_trials=n,
            seed=seed,
            storage=str(path),
            name=name,
        )


def api_study(lab: JupyterLab, store: str, name: str) -> dict[str, Any] | None:
    """The summary of a study as the server lists it (None if it is not there)."""
    for entry in lab.api("/hpmagic/studies")["stores"]:
        if entry["path"] == store:
            for s in entry["studies"]:
                if s["name"] == name:
                    return s
    return None


def sources(page: Any, path: str) -> list[str]:
    """The cell sources of the open notebook at ``path``."""
    return page.evaluate(
        """(path) => {
            const panel = [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === path);
            return panel.content.widgets.map(c => c.model.sharedModel.getSource());
        }""",
        path,
    )


def test_pause_resume_compare_keyboard_copy_insert_rename_delete(page: Any, lab: JupyterLab) -> None:
    store = "actions/hpmagic.db"
    make_studies(lab.root_dir / store, {"cmp-a": 8, "cmp-b": 6, "doomed": 3})
    runner = write_notebook(
        lab.root_dir,
        "lab_pause.ipynb",
        ["%load_ext hpmagic", LIVE_CELL.format(trials=300, name="lab-pause", sleep=0.25)],
    )
    target = write_notebook(lab.root_dir, "lab_target.ipynb", ["%load_ext hpmagic", "a = 1"])

    # A study running in one notebook's kernel; the panel's row names that notebook.
    open_notebook(page, lab.base_url, runner)
    panel = open_studies_panel(page)
    run_all(page)
    wait_until(
        lambda: (c := row_cells(page, "lab-pause")) and c["state"] == "running" and c["trials"] != "0/300",
        60,
        lambda: f"lab-pause never ran: {panel.inner_text()}" + diagnostics(page, lab),
    )
    assert study_row(page, "lab-pause").locator(".jp-hpmagic-notebook").inner_text() == runner

    # Another notebook becomes the current one (the one "Insert into notebook" writes to); the study runs on.
    page.evaluate(f"() => window.jupyterapp.commands.execute('docmanager:open', {{path: '{target}'}})")
    page.wait_for_function(
        "(p) => { const w = window.jupyterapp.shell.currentWidget; return w && w.context && w.context.path === p"
        " && w.context.isReady && w.content.activeCell; }",
        arg=target,
    )
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 1; }")

    # Pause from the panel: the loop in the other kernel waits after its trial; Resume lets it go on.
    study_row(page, "lab-pause").locator("button.jp-hpmagic-pause").click()
    wait_until(
        lambda: row_cells(page, "lab-pause").get("state") == "running" and "(pause)" in panel.inner_text(),
        10,
        lambda: f"no pause shown: {panel.inner_text()}",
    )
    assert api_study(lab, "hpmagic.db", "lab-pause")["control"] == "pause"

    def settled() -> int | None:
        before = api_study(lab, "hpmagic.db", "lab-pause")["n_trials"]
        time.sleep(1.0)
        after = api_study(lab, "hpmagic.db", "lab-pause")["n_trials"]
        return after if after == before else None

    paused_at = wait_until(settled, 15, "the study did not pause")
    time.sleep(2.0)  # about eight trials' time if it were running
    assert api_study(lab, "hpmagic.db", "lab-pause")["n_trials"] == paused_at
    study_row(page, "lab-pause").locator("button.jp-hpmagic-resume").click()
    wait_until(
        lambda: api_study(lab, "hpmagic.db", "lab-pause")["n_trials"] > paused_at + 1,
        15,
        lambda: f"the study did not resume: {api_study(lab, 'hpmagic.db', 'lab-pause')}",
    )
    study_row(page, "lab-pause").locator("button.jp-hpmagic-stop").click()
    wait_until(lambda: row_cells(page, "lab-pause").get("state") == "stopped", 20, "the study did not stop")

    # Compare: tick two rows; the page overlays one curve per study.
    for name in ("cmp-a", "cmp-b"):
        study_row(page, name).locator("input[type=checkbox]").check()
    compare_button = panel.locator(".jp-hpmagic-toolbar button", has_text="Compare")
    assert compare_button.inner_text() == "Compare (2)"
    compare_button.click()
    compare = page.locator(".jp-hpmagic-StudyPage:visible")
    page.wait_for_function(PLOT_SHOWN)
    svg = page.evaluate(
        "async () => { const img = document.querySelector('.jp-hpmagic-StudyPage:not(.lm-mod-hidden) img');"
        " return await (await fetch(img.src)).text(); }"
    )
    assert 'id="hpmagic-compare-0"' in svg and 'id="hpmagic-compare-1"' in svg
    assert 'id="hpmagic-compare-2"' not in svg
    listed = compare.locator("li").all_inner_texts()
    assert sorted(listed) == [f"cmp-a ({store})", f"cmp-b ({store})"], listed
    screenshot(page, "lab-compare")

    # Keyboard: a row takes the focus and Enter opens its study page.
    study_row(page, "cmp-a").focus()
    page.keyboard.press("Enter")
    study = page.locator(".jp-hpmagic-StudyPage:visible")
    wait_until(lambda: "cmp-a" in study.locator(".jp-hpmagic-studyName").inner_text(), 15, "Enter did not open cmp-a")
    best = lab.api(f"/hpmagic/study?store={store}&id={api_study(lab, store, 'cmp-a')['id']}")["best"]["params"]

    # Copy best parameters: what reaches the clipboard is the best trial's parameters as JSON.
    page.evaluate(
        "() => { const set = DataTransfer.prototype.setData; DataTransfer.prototype.setData = function (t, d) {"
        " window.__hpmagic_copied = d; return set.call(this, t, d); }; }"
    )
    study.locator("button.jp-hpmagic-copy").click()
    copied = wait_until(lambda: page.evaluate("() => window.__hpmagic_copied"), 5, "nothing was copied")
    assert json.loads(copied) == best

    # Insert into notebook: below the active cell of the current notebook, then run for real in its kernel.
    study.locator("button.jp-hpmagic-insert-show").click()
    study.locator("button.jp-hpmagic-insert-best").click()
    cells = sources(page, target)
    assert cells[:2] == ["%load_ext hpmagic", "a = 1"], cells
    assert cells[2] == f'%tune_show --storage "{store}" cmp-a', cells
    assert cells[3] == f"x = {best['x']!r}\ndepth = {best['depth']}", cells
    page.evaluate(
        "(p) => { const w = [...window.jupyterapp.shell.widgets('main')].find(w => w.context && w.context.path === p);"
        " window.jupyterapp.shell.activateById(w.id); }",
        target,
    )
    run_all(page)
    wait_for_cell_done(page, 3, timeout=60)
    out = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(2).locator(".jp-OutputArea").inner_text()
    assert "cmp-a" in out and "Error" not in out, out
    screenshot(page, "lab-inserted-cells")

    # Rename, with its dialog: the store, the row and the page follow.
    study_row(page, "cmp-a").click()
    study = page.locator(".jp-hpmagic-StudyPage:visible")
    study.locator("button.jp-hpmagic-rename").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("cmp-renamed")
    dialog.locator("button.jp-mod-accept").click()
    wait_until(lambda: study_row(page, "cmp-renamed").count() == 1, 10, lambda: panel.inner_text())
    assert api_study(lab, store, "cmp-a") is None and api_study(lab, store, "cmp-renamed") is not None
    wait_until(lambda: "cmp-renamed" in study.locator(".jp-hpmagic-studyName").inner_text(), 10, "page not renamed")

    # Delete asks first: Cancel keeps the study, Delete removes it and closes its page.
    study_row(page, "doomed").click()
    study = page.locator(".jp-hpmagic-StudyPage:visible")
    wait_until(lambda: "doomed" in study.locator(".jp-hpmagic-studyName").inner_text(), 10, "doomed not opened")
    study.locator("button.jp-hpmagic-delete").click()
    assert "doomed" in dialog.inner_text()
    dialog.locator("button.jp-mod-reject").click()
    time.sleep(0.5)
    assert api_study(lab, store, "doomed") is not None
    study.locator("button.jp-hpmagic-delete").click()
    dialog.locator("button.jp-mod-accept").click()
    wait_until(lambda: study_row(page, "doomed").count() == 0, 10, lambda: panel.inner_text())
    assert api_study(lab, store, "doomed") is None
    assert page.locator(".jp-hpmagic-StudyPage .jp-hpmagic-studyName", has_text="doomed").count() == 0


def _put_settings(lab: JupyterLab, plugin: str, values: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{lab.base_url}/lab/api/settings/{plugin}",
        data=json.dumps({"raw": json.dumps(values)}).encode(),
        method="PUT",
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


LONG_NAME = "a-study-whose-name-is-much-too-long-for-the-sidebar-" + "x" * 40


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_settings_restore_narrow_sidebar_and_dark_theme(page: Any, lab: JupyterLab, tmp_path: Path) -> None:
    # A store under a name the walk does not look for, made elsewhere (so hpmagic does not remember it) and copied in.
    made = tmp_path / "runs.sqlite"
    make_studies(made, {LONG_NAME: 3})
    (lab.root_dir / "other").mkdir(exist_ok=True)
    with (
        closing(sqlite3.connect(made)) as source,
        closing(sqlite3.connect(lab.root_dir / "other" / "runs.sqlite")) as copy,
    ):
        source.backup(copy)  # the whole store, write-ahead log included
    assert "other/runs.sqlite" not in {s["path"] for s in lab.api("/hpmagic/studies")["stores"]}
    _put_settings(lab, "hpmagic:plugin", {"extraStores": ["other/runs.sqlite"], "pollTimeout": 7})
    studies_urls: list[str] = []
    page.on("request", lambda r: studies_urls.append(r.url) if "/hpmagic/studies" in r.url else None)
    try:
        page.goto(f"{lab.base_url}/lab/workspaces/restore-test?token={TOKEN}")
        page.bring_to_front()  # a page Chromium deems hidden has its timers throttled, and the panel waits on one
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('hpmagic:open-studies')",
            timeout=60_000,
        )
        page.evaluate("() => window.jupyterapp.restored.then(() => true)")  # the saved layout first, then ours
        panel = open_studies_panel(page)
        row = study_row(page, LONG_NAME)
        row.wait_for()
        assert row.get_attribute("data-store") == "other/runs.sqlite"
        wait_until(
            # Playwright's sync API hands events to page.on handlers only inside its own calls, never during a
            # plain sleep, so the check itself must give it a moment to deliver the requests seen so far.
            lambda: page.wait_for_timeout(100) or any("timeout=7" in u for u in studies_urls),
            30,
            lambda: (
                "\n".join(studies_urls[-5:])
                + f"\nstatus: {panel.locator('.jp-hpmagic-status').inner_text()!r}, "
                + f"refreshes: {panel.get_attribute('data-refreshes')}, "
                + f"visibility: {page.evaluate('() => document.visibilityState')}"
                + diagnostics(page, lab)
            ),
        )
        assert any("store=other%2Fruns.sqlite" in u for u in studies_urls)

        # The default sidebar width: nothing sticks out of the panel; the long name is cut, whole on hover.
        box = panel.bounding_box()
        assert box is not None and box["width"] < 320, box
        overflow = page.evaluate(
            """() => {
                const panel = document.querySelector('#hpmagic-studies');
                const right = panel.getBoundingClientRect().right + 0.5;
                const wrap = panel.querySelector('.jp-hpmagic-tableWrap');
                const out = [...panel.querySelectorAll('tr.jp-hpmagic-studyRow td, th')]
                    .filter(e => e.getBoundingClientRect().right > right).map(e => e.textContent);
                return {out, scroll: wrap.scrollWidth - wrap.clientWidth};
            }"""
        )
        assert overflow == {"out": [], "scroll": 0}, overflow
        name = row.locator(".jp-hpmagic-name")
        assert name.get_attribute("title") == LONG_NAME
        assert name.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).textOverflow === 'ellipsis'")
        assert row.locator(".jp-hpmagic-best").bounding_box()["x"] + 4 < box["x"] + box["width"]
        screenshot(page, "lab-studies-panel-narrow")

        # The panel comes back with the workspace.
        wait_until(
            lambda: "hpmagic-studies" in json.dumps(lab.api("/lab/api/workspaces/restore-test")),
            15,
            "the workspace never recorded the Studies panel",
        )
        page.reload()
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.restored", timeout=60_000)
        page.evaluate("() => window.jupyterapp.restored.then(() => true)")
        page.locator("#hpmagic-studies").wait_for(state="visible", timeout=60_000)
        study_row(page, LONG_NAME).wait_for()

        # Dark theme: the panel and a study page take JupyterLab's colours (light text on a dark ground).
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
        study_row(page, LONG_NAME).click()
        page.locator(".jp-hpmagic-StudyPage:visible .jp-hpmagic-trials tbody tr").first.wait_for()
        page.wait_for_function(PLOT_SHOWN)
        assert "run from Python" in page.locator(".jp-hpmagic-StudyPage:visible .jp-hpmagic-source").inner_text()
        time.sleep(0.5)  # the theme's transition
        colours = page.evaluate(
            """() => {
                const probe = document.createElement('div');
                probe.style.background = 'var(--jp-layout-color1)';
                probe.style.color = 'var(--jp-ui-font-color1)';
                document.body.appendChild(probe);
                const want = getComputedStyle(probe);
                const pick = sel => {
                    const s = getComputedStyle(document.querySelector(sel));
                    return {bg: s.backgroundColor, fg: s.color};
                };
                const out = {
                    want: {bg: want.backgroundColor, fg: want.color},
                    panel: pick('#hpmagic-studies'),
                    page: pick('.jp-hpmagic-StudyPage:not(.lm-mod-hidden)'),
                    row: getComputedStyle(document.querySelector('#hpmagic-studies .jp-hpmagic-name')).color,
                    cell: getComputedStyle(
                        document.querySelector('.jp-hpmagic-StudyPage:not(.lm-mod-hidden) .jp-hpmagic-trials td')
                    ).color,
                };
                probe.remove();
                return out;
            }"""
        )
        assert colours["panel"] == colours["want"] and colours["page"] == colours["want"], colours
        assert _luminance(colours["want"]["bg"]) < 0.3 and _luminance(colours["want"]["fg"]) > 0.6, colours
        assert _luminance(colours["row"]) > 0.6 and _luminance(colours["cell"]) > 0.6, colours
        screenshot(page, "lab-dark-theme")
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        time.sleep(0.5)
        _put_settings(lab, "hpmagic:plugin", {})
