"""The %%tune dashboard's layout in a real JupyterLab, measured in the page: it holds for any study.

Studies with 1, 5 and 12 parameters (long categorical values, long failure notes from wrapped exceptions, printed
output in every trial) run in JupyterLab at 800 px, then are measured at 800 and 1,400 px. The assertions are on
geometry: the value and state columns are inside the table's visible box, nothing in the dashboard is wider than the
output area (only the table scrolls sideways, and then it shows a scrollbar), the output area's height holds while
trials stream in, a trial's output opens below its row at the table's visible width, the plot keeps its aspect
ratio, no image is broken, tab labels and trial numbers are not cut, and Stop is greyed out once the study ends.
Screenshots go to test-artifacts/browser/layout-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import (
    JupyterLab,
    diagnostics,
    execution_count,
    launch_chromium,
    open_notebook,
    run_all,
    screenshot,
    wait_for_cell_done,
    write_notebook,
)

DASHBOARD = ".hpmagic-dashboard"
N_TRIALS = 14
LONG_CHOICES = [
    "a-rather-long-categorical-value-number-one-for-the-layout-test",
    "short",
    "another-quite-long-categorical-choice-value-that-goes-on",
]


def tune_cell(n_params: int, name: str, storage: str) -> str:
    """A %%tune cell with n_params parameters, long categorical values, printed output and wrapped failures."""
    lines = [
        f"%%tune --strategy random --trials {N_TRIALS} --seed 3 --name {name} --storage {storage}",
        "import time",
        "x = tune.uniform(-2, 2)",
    ]
    if n_params >= 2:
        lines.append(f"kind = tune.choice({LONG_CHOICES!r})")
    lines += [f"hidden_layer_size_{i} = tune.loguniform(1e-4, 1e-1)" for i in range(2, n_params)]
    lines += [
        'print("training log: " + "epoch done, the loss goes down; " * 12)',
        "time.sleep(0.3)",
        "if x < -0.8:",
        "    try:",
        '        raise ValueError("the solver did not converge with these settings: " + "a long explanation " * 8)',
        "    except ValueError as exc:",
        '        raise RuntimeError("All the 5 fits failed.") from exc',
        "(x - 1) ** 2",
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def browser(playwright_session: Any) -> Iterator[Any]:
    """Chromium as the conftest launches it, but with its scrollbars drawn, as a person sees them.

    Playwright starts headless Chromium with ``--hide-scrollbars``; the layout tests check that a table wider than
    the notebook shows a scrollbar, so this module keeps them.
    """
    launched = launch_chromium(playwright_session, ignore_default_args=["--hide-scrollbars"])
    try:
        yield launched
    finally:
        launched.close()


# Everything measured in one round trip. Rectangles are the browser's own (CSS pixels, viewport coordinates).
SCROLLER = "'.hpmagic-table > .widget-html-content, .hpmagic-table > .jupyter-widget-html-content'"
MEASURE = """(sel) => {
    const dash = document.querySelector(sel);
    if (!dash) return null;
    const area = dash.closest('.jp-OutputArea');
    const out = dash.closest('.jp-OutputArea-output');
    const box = (el) => { const r = el.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };
    const scroller = dash.querySelector(SCROLLER);
    const clipped = (el) => {  // inside the table's scroller or a cut line (ellipsis): past the box by design
        for (let a = el.parentElement; a && a !== dash.parentElement; a = a.parentElement) {
            if (a === scroller || getComputedStyle(a).textOverflow === 'ellipsis') return true;
        }
        return false;
    };
    const tooWide = [];
    const areaBox = box(out);
    for (const el of dash.querySelectorAll('*')) {
        if (clipped(el) || el.tagName === 'STYLE') continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.right > areaBox.right + 1 || r.left < areaBox.left - 1) {
            tooWide.push(`${el.tagName}.${[...el.classList].join('.')} ${Math.round(r.left)}..${Math.round(r.right)}`);
        }
    }
    const cells = (cls) => [...dash.querySelectorAll(`table.hpmagic-trials tr.hpmagic-row td.${cls}`)].map(box);
    const shownRatio = (el) => { const r = el.getBoundingClientRect(); return r.height ? r.width / r.height : 0; };
    const imgs = [...dash.querySelectorAll('img')].map((img) => ({
        visible: getComputedStyle(img).visibility !== 'hidden' && img.getBoundingClientRect().width > 0,
        broken: !img.complete || img.naturalWidth === 0,
        ratio: img.naturalHeight ? img.naturalWidth / img.naturalHeight : 0,
        shown: shownRatio(img),
        fit: getComputedStyle(img).objectFit,
        cls: img.className,
    }));
    const cut = (els) => [...els]
        .filter((el) => el.getBoundingClientRect().width > 0 && el.scrollWidth > el.clientWidth + 1)
        .map((el) => el.textContent);
    const texts = (cls) => [...dash.querySelectorAll(cls)]
        .map((el) => ({text: el.textContent, title: el.title, ...box(el)}));
    const stop = dash.querySelector('.hpmagic-stop');
    return {
        area: box(area), output: areaBox, dashboard: box(dash),
        scroller: scroller ? {...box(scroller), scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
            clientHeight: scroller.clientHeight, offsetHeight: scroller.offsetHeight,
            overflowX: getComputedStyle(scroller).overflowX} : null,
        tooWide, values: cells('hpmagic-value'), states: cells('hpmagic-state'),
        toggles: [...dash.querySelectorAll('table.hpmagic-trials tr.hpmagic-row label.hpmagic-toggle')].map(box),
        numbersCut: cut(dash.querySelectorAll('td.hpmagic-number')),
        tabsCut: cut(dash.querySelectorAll('.hpmagic-explore .lm-TabBar-tabLabel')),
        tabs: [...dash.querySelectorAll('.hpmagic-explore .lm-TabBar-tabLabel')].map((el) => el.textContent),
        notes: texts('td.hpmagic-note'),
        params: texts('td.hpmagic-param'),
        rowHeights: texts('table.hpmagic-trials tr.hpmagic-row').map((r) => r.height),
        imgs,
        stop: stop ? {disabled: stop.disabled, background: getComputedStyle(stop).backgroundColor} : null,
        progress: (dash.querySelector('.hpmagic-progress-text') || {}).textContent || '',
        status: (dash.querySelector('.hpmagic-status') || {}).textContent || '',
        parts: [...dash.querySelectorAll(':scope > *, .hpmagic-body > *')].map((el) => {
            const name = [...el.classList].filter((c) => c.startsWith('hpmagic')).join('.');
            return `${name}:${Math.round(el.getBoundingClientRect().height)}`;
        }).join(' '),
    };
}""".replace("SCROLLER", SCROLLER)


def measure(page: Any) -> dict[str, Any]:
    return page.evaluate(MEASURE, DASHBOARD)


def _done(page: Any) -> int:
    m = re.search(r"(\d+)/\d+ trials", page.locator(f"{DASHBOARD} .hpmagic-progress-text").first.inner_text())
    return int(m.group(1)) if m else -1


def _shot(page: Any, name: str) -> None:
    """A screenshot of the window with the dashboard scrolled to its top."""
    page.locator(DASHBOARD).first.evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, name)


def _set_width(page: Any, width: int) -> None:
    """The browser window's width; the left sidebar is closed, so the notebook takes the whole width."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.evaluate(
        "() => { const app = window.jupyterapp; if (app && !app.shell.leftCollapsed) app.shell.collapseLeft(); }"
    )
    page.wait_for_timeout(400)  # JupyterLab relays out on resize; a bounded pause, not a wait for a condition


def check_geometry(m: dict[str, Any], label: str) -> None:
    """The assertions every layout must pass."""
    assert m["tooWide"] == [], f"{label}: elements outside the output area: {m['tooWide'][:8]}"
    assert m["dashboard"]["right"] <= m["output"]["right"] + 1, (label, m["dashboard"], m["output"])
    sc = m["scroller"]
    assert sc is not None, f"{label}: no table scroller"
    assert sc["right"] <= m["output"]["right"] + 1, (label, sc, m["output"])
    for kind in ("values", "states", "toggles"):
        assert m[kind], f"{label}: no {kind} cells"
        for r in m[kind]:  # the objective, state and output toggle columns are always inside the visible box
            assert sc["left"] - 1 <= r["left"] and r["right"] <= sc["right"] + 1, (label, kind, r, sc)
    if sc["scrollWidth"] > sc["clientWidth"] + 1:  # wider than the box: it scrolls, with a visible scrollbar
        assert sc["overflowX"] in ("auto", "scroll"), (label, sc)
        assert sc["offsetHeight"] - sc["clientHeight"] >= 4, f"{label}: no visible horizontal scrollbar: {sc}"
    assert m["numbersCut"] == [], f"{label}: trial numbers cut: {m['numbersCut']}"
    assert m["rowHeights"] and max(m["rowHeights"]) <= 24, f"{label}: rows wrap: {m['rowHeights']}"
    for img in m["imgs"]:
        if img["visible"]:
            assert not img["broken"], f"{label}: a broken image is shown: {img}"
            # Never distorted: shown at its own aspect ratio, or letterboxed by object-fit: contain.
            assert img["fit"] == "contain" or abs(img["shown"] - img["ratio"]) <= 0.03 * img["ratio"], (label, img)


@pytest.mark.parametrize("n_params", [1, 5, 12])
def test_dashboard_layout_holds(page: Any, jupyter_lab: JupyterLab, n_params: int) -> None:
    name = f"layout-{n_params}"
    storage = jupyter_lab.root_dir / f"{name}.db"
    path = write_notebook(
        jupyter_lab.root_dir, f"{name}.ipynb", ["%load_ext hpmagic", tune_cell(n_params, name, str(storage))]
    )
    _set_width(page, 800)
    open_notebook(page, jupyter_lab.base_url, path)
    _set_width(page, 800)
    run_all(page)
    wait_for_cell_done(page, 0, timeout=60)
    page.locator(DASHBOARD).wait_for(state="visible", timeout=60_000)

    # Before the first trial ends: the plot's place is kept, with no broken-image icon.
    first = measure(page)
    assert first is not None
    for img in first["imgs"]:
        assert not (img["visible"] and img["broken"]), f"broken image before the first trial: {img}"

    # While trials stream in, the output area keeps its height.
    heights: list[tuple[int, float]] = []
    deadline = time.monotonic() + 120
    while execution_count(page, 1) == "*" and time.monotonic() < deadline:
        m = measure(page)
        done = _done(page)
        if m is not None and 1 <= done < N_TRIALS and m["status"].endswith("running"):
            heights.append((done, m["area"]["height"], m["parts"]))
        time.sleep(0.1)
    wait_for_cell_done(page, 1, timeout=120)
    seen = {d for d, _, _ in heights}
    assert len(seen) >= 3, f"too few trials seen while running: {heights}" + diagnostics(page)
    values = [h for _, h, _ in heights]
    jumps = [(a, b) for a, b in zip(heights, heights[1:], strict=False) if a[1] != b[1]]
    assert max(values) - min(values) <= 4, f"the output area's height jumped while trials came in: {jumps}"

    page.wait_for_function(
        "(sel) => document.querySelector(sel + ' .hpmagic-explore .lm-TabBar-tabLabel') !== null",
        arg=DASHBOARD,
        timeout=30_000,
    )
    for width in (800, 1400):
        _set_width(page, width)
        m = measure(page)
        label = f"{n_params} params at {width} px"
        check_geometry(m, label)
        if n_params == 12 and width == 800:  # wider than the notebook: the scrollbar check above did apply
            assert m["scroller"]["scrollWidth"] > m["scroller"]["clientWidth"] + 1, m["scroller"]
        assert m["tabs"] and m["tabsCut"] == [], f"{label}: tab labels cut: {m['tabsCut']} of {m['tabs']}"
        assert "Parameter vs objective" in m["tabs"]
        assert m["stop"]["disabled"], f"{label}: Stop is enabled on a finished study"
        red = re.match(r"rgb\((\d+), (\d+), (\d+)", m["stop"]["background"])
        assert red and not (int(red.group(1)) > 150 and int(red.group(2)) < 100), f"Stop is still red: {m['stop']}"
        failed = [n for n in m["notes"] if n["text"]]
        assert failed, f"{label}: the study has no failed trial to show a note"
        for note in failed:
            # The innermost cause of the wrapped error, on one line, cut with the whole text on hover.
            assert note["text"].startswith("ValueError: the solver did not converge"), note
            assert note["height"] <= 24 and note["title"] == note["text"], note
        if n_params >= 2:
            long = [p for p in m["params"] if p["title"] in LONG_CHOICES[::2]]
            assert long and all(p["title"].startswith(p["text"].rstrip(".")) for p in long), long
        _shot(page, f"layout-{n_params}params-{width}px")

    # A trial's output opens below its row, as wide as the table's visible box.
    _set_width(page, 800)
    toggle = page.locator(f"{DASHBOARD} .hpmagic-toggle").first
    number = toggle.evaluate("el => el.closest('tr').dataset.number")
    toggle.click()
    opened = page.evaluate(
        """([sel, number]) => {
            const dash = document.querySelector(sel);
            const row = dash.querySelector(`tr.hpmagic-row[data-number="${number}"]`);
            const out = dash.querySelector(`tr.hpmagic-output-row[data-output-of="${number}"]`);
            const pre = out.querySelector('pre');
            const scroller = dash.querySelector(SCROLLER);
            const r = (el) => el.getBoundingClientRect();
            return {display: getComputedStyle(out).display, rowBottom: r(row).bottom, preTop: r(pre).top,
                preLeft: r(pre).left, preWidth: r(pre).width, preHeight: r(pre).height,
                boxLeft: r(scroller).left, boxWidth: scroller.clientWidth, text: pre.textContent};
        }""".replace("SCROLLER", SCROLLER),
        [DASHBOARD, number],
    )
    assert opened["display"] == "table-row", opened
    assert opened["preTop"] >= opened["rowBottom"] - 1, f"the output is not below its row: {opened}"
    assert abs(opened["preLeft"] - opened["boxLeft"]) <= 2 and abs(opened["preWidth"] - opened["boxWidth"]) <= 2, (
        f"the output is not as wide as the table's visible box: {opened}"
    )
    assert 20 <= opened["preHeight"] <= 400 and "training log" in opened["text"], opened
    check_geometry(measure(page), f"{n_params} params at 800 px, output open")
    _shot(page, f"layout-{n_params}params-800px-output-open")
