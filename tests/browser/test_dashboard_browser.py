"""The live %%tune dashboard in a real JupyterLab, driven through headless Chromium.

The first two tests check what the dashboard relies on: ipywidgets render and their comms work in this JupyterLab
(with ``add_class`` names on the widgets' DOM nodes), and a button's callback runs while its own cell is still busy
(JupyterLab 4.4+ sends widget messages to a kernel subshell when the kernel has them, as ipykernel 7 does), which
is what makes a Stop button possible. The others run a real %%tune study and stop / pause it from the page.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from .conftest import (
    JupyterLab,
    diagnostics,
    execution_count,
    open_notebook,
    run_all,
    run_cell,
    screenshot,
    wait_for_cell_done,
    wait_for_kernel_idle,
    wait_until,
    write_notebook,
)

SMOKE_CELL = """\
import sys
import ipywidgets as W
from IPython.display import display

bar = W.IntProgress(value=3, min=0, max=10)
bar.add_class("smoke-progress")
label = W.Label("not clicked")
label.add_class("smoke-label")
button = W.Button(description="Click me")
button.add_class("smoke-button")
clicks = []

def on_click(_):
    clicks.append(1)
    label.value = f"clicked {len(clicks)}"

button.on_click(on_click)
python = W.Label(sys.executable)
python.add_class("smoke-python")
display(W.VBox([bar, label, button, python]))
"""

BUSY_CELL = """\
import time
import ipywidgets as W
from IPython.display import display

flag = {"stop": False}
progress = W.IntProgress(value=0, min=0, max=60)
progress.add_class("busy-progress")
count = W.Label("0")
count.add_class("busy-count")
status = W.Label("running")
status.add_class("busy-status")
button = W.Button(description="Stop loop")
button.add_class("busy-stop")

def on_click(_):
    flag["stop"] = True
    status.value = "stop requested"

button.on_click(on_click)
ROUTING
display(W.VBox([progress, count, status, button]))
for i in range(60):
    time.sleep(0.5)
    progress.value = i + 1
    count.value = str(i + 1)
    if flag["stop"]:
        status.value = f"stopped at {i + 1}"
        break
else:
    status.value = "finished"
"""

# ipykernel 7.4 sends a comm's incoming messages to the subshell its last outgoing message came from
# (BaseComm._reply_subshell_for), not to the subshell JupyterLab addressed. A widget created by a busy cell last spoke
# from the main shell (its comm_open), so its clicks wait behind the cell. Honouring the front end's subshell for the
# button's comm lets the callback run at once, in a subshell thread.
FRONTEND_SUBSHELL_ROUTING = """\
if hasattr(button.comm, "_reply_subshell_for"):
    button.comm._reply_subshell_for = lambda data, default: default
"""


def _text(page, selector: str) -> str:
    loc = page.locator(selector)
    return loc.first.inner_text() if loc.count() else ""


def _count(page, selector: str) -> int:
    text = _text(page, selector)
    return int(text) if text.isdigit() else -1


def test_widgets_render_and_callbacks_work(page, jupyter_lab: JupyterLab) -> None:
    path = write_notebook(jupyter_lab.root_dir, "smoke.ipynb", [SMOKE_CELL])
    open_notebook(page, jupyter_lab.base_url, path)
    run_cell(page, 0)
    wait_for_cell_done(page, 0)

    # add_class names land on the widgets' own DOM nodes, next to ipywidgets' classes.
    bar = page.locator(".smoke-progress")
    bar.wait_for(state="visible", timeout=20_000)
    assert re.search(r"\bwidget-[hv]?progress\b", bar.get_attribute("class") or ""), diagnostics(page)
    assert "widget-button" in (page.locator(".smoke-button").get_attribute("class") or ""), diagnostics(page)
    # The kernel is the virtualenv's (JUPYTER_PREFER_ENV_PATH): its interpreter lives under this repo's .venv.
    kernel_python = _text(page, ".smoke-python")
    assert kernel_python, diagnostics(page)
    assert Path(kernel_python).resolve().parent == Path(__import__("sys").executable).resolve().parent, (
        f"the kernel runs {kernel_python}, not the test's Python" + diagnostics(page)
    )
    assert _text(page, ".smoke-label") == "not clicked"

    page.locator(".smoke-button").click()
    wait_until(
        lambda: _text(page, ".smoke-label") == "clicked 1",
        10,
        lambda: f"label is {_text(page, '.smoke-label')!r} after a click" + diagnostics(page, jupyter_lab),
    )
    screenshot(page, "smoke-widgets")


def test_widget_callbacks_run_while_cell_is_busy(page, jupyter_lab: JupyterLab) -> None:
    """A button's on_click runs while the cell that displayed it is still looping (the mechanism of Stop and Pause)."""
    source = BUSY_CELL.replace("ROUTING\n", FRONTEND_SUBSHELL_ROUTING)
    path = write_notebook(jupyter_lab.root_dir, "busy.ipynb", [source])
    open_notebook(page, jupyter_lab.base_url, path)
    run_cell(page, 0)

    # Updates made by the running loop stream to the page.
    wait_until(
        lambda: _count(page, ".busy-count") >= 2,
        30,
        lambda: f"the loop's count did not reach 2 (shows {_text(page, '.busy-count')!r})" + diagnostics(page),
    )
    clicked_at = _count(page, ".busy-count")
    page.locator(".busy-stop").click()
    wait_until(
        lambda: _text(page, ".busy-status").startswith("stopped"),
        8,
        lambda: (
            f"the loop did not stop within 8 s of the click at {clicked_at}/60 (status "
            f"{_text(page, '.busy-status')!r}, count {_text(page, '.busy-count')!r})" + diagnostics(page, jupyter_lab)
        ),
    )
    stopped_at = int(_text(page, ".busy-status").split()[-1])
    wait_for_cell_done(page, 0, timeout=15)
    screenshot(page, "busy-cell-stopped")
    # The loop saw the flag within a couple of iterations of the click (0.5 s each).
    assert stopped_at <= clicked_at + 4, (stopped_at, clicked_at)


# --------------------------------------------------------------------------------------------------------------------
# The %%tune dashboard

TUNE_CELL = """\
%%tune --strategy random --trials 40 --seed 0 --name {name} --storage {storage}
import time
x = tune.uniform(-2, 2)
time.sleep(0.4)
(x - 1) ** 2
"""

DASHBOARD = ".hpmagic-dashboard"


def _done_trials(page) -> int:
    """N in the dashboard's "N/M trials" text, -1 while it is not shown."""
    match = re.search(r"(\d+)\s*/\s*40 trials", _text(page, ".hpmagic-progress-text"))
    return int(match.group(1)) if match else -1


def _status(page) -> str:
    return _text(page, ".hpmagic-status").strip()


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


def _n_complete(storage: Path, name: str) -> int:
    return sum(state == "complete" for _, state in _stored_trials(storage, name))


def _dashboard_state(page) -> str:
    return (
        f"\nprogress {_text(page, '.hpmagic-progress-text')!r}, status {_status(page)!r}, "
        f"stop button {page.locator('.hpmagic-stop').count()}, pause button {_text(page, '.hpmagic-pause')!r}"
    )


def _start_study(page, lab: JupyterLab, name: str) -> Path:
    """Open a notebook with %load_ext and a 40-trial %%tune cell, run both, wait for the dashboard to count 2 trials."""
    storage = lab.root_dir / f"{name}.db"
    path = write_notebook(
        lab.root_dir, f"{name}.ipynb", ["%load_ext hpmagic", TUNE_CELL.format(name=name, storage=storage)]
    )
    open_notebook(page, lab.base_url, path)
    run_all(page)
    wait_for_cell_done(page, 0, timeout=60)
    page.locator(DASHBOARD).wait_for(state="visible", timeout=60_000)
    for cls in ("hpmagic-progress", "hpmagic-progress-text", "hpmagic-status", "hpmagic-stop", "hpmagic-pause"):
        assert page.locator(f"{DASHBOARD} .{cls}").count() == 1, f"no .{cls} in the dashboard" + diagnostics(page)
    wait_until(
        lambda: _done_trials(page) >= 2,
        60,
        lambda: "the dashboard did not count 2 trials" + _dashboard_state(page) + diagnostics(page, lab),
    )
    return storage


def _click_button(page, cls: str, description: str) -> None:
    button = page.locator(f"{DASHBOARD} .{cls}")
    assert button.inner_text().strip() == description, (button.inner_text(), description)
    assert button.is_enabled(), f"{description} is disabled" + _dashboard_state(page)
    button.click()


def test_live_dashboard_progress_and_stop(page, jupyter_lab: JupyterLab) -> None:
    pytest.importorskip("hpmagic.display.dashboard")
    name = "browser-stop"
    started = time.monotonic()
    storage = _start_study(page, jupyter_lab, name)
    first = _done_trials(page)
    screenshot(page, "dashboard-running")
    assert execution_count(page, 1) == "*", "the %%tune cell is no longer running" + _dashboard_state(page)

    # The progress advances live while the cell runs.
    wait_until(
        lambda: _done_trials(page) > first,
        20,
        lambda: f"the progress stayed at {first}/40" + _dashboard_state(page) + diagnostics(page),
    )
    assert execution_count(page, 1) == "*"

    clicked_at = _done_trials(page)
    _click_button(page, "hpmagic-stop", "Stop")
    wait_until(
        lambda: _status(page) == "stopped",
        15,
        lambda: (
            f"the study did not stop within 15 s of Stop at {clicked_at}/40"
            + _dashboard_state(page)
            + diagnostics(page, jupyter_lab)
        ),
    )
    wait_for_cell_done(page, 1, timeout=30)
    wait_for_kernel_idle(page)
    screenshot(page, "dashboard-stopped")
    elapsed = time.monotonic() - started

    trials = _stored_trials(storage, name)
    states = [state for _, state in trials]
    assert 3 <= len(trials) < 40, (len(trials), elapsed)
    # Stop lets the running trial finish: nothing is left running or interrupted.
    assert set(states) == {"complete"}, trials
    assert len(trials) <= clicked_at + 3, f"Stop at {clicked_at} trials, {len(trials)} stored"

    rows = page.locator(f"{DASHBOARD} .hpmagic-table table tr[data-state]")
    shown = {
        int(n): s
        for n, s in zip(
            rows.evaluate_all("rs => rs.map(r => r.dataset.number)"),
            rows.evaluate_all("rs => rs.map(r => r.dataset.state)"),
            strict=True,
        )
    }
    stored = dict(trials)
    assert shown, "the live table shows no trial" + diagnostics(page)
    assert set(shown.items()) <= set(stored.items()), (shown, stored)
    if len(stored) <= 10:  # the live table keeps the 10 best plus the latest: a short study is shown whole
        assert shown == stored, (shown, stored)
    assert f"{len(trials)}/40 trials" in _text(page, ".hpmagic-progress-text")


def test_dashboard_pause_and_resume(page, jupyter_lab: JupyterLab) -> None:
    pytest.importorskip("hpmagic.display.dashboard")
    name = "browser-pause"
    storage = _start_study(page, jupyter_lab, name)

    _click_button(page, "hpmagic-pause", "Pause")
    wait_until(
        lambda: _status(page) == "paused",
        15,
        lambda: (
            "the study did not pause within 15 s of Pause" + _dashboard_state(page) + diagnostics(page, jupyter_lab)
        ),
    )
    wait_until(
        lambda: page.locator(f"{DASHBOARD} .hpmagic-pause").inner_text().strip() == "Resume",
        5,
        lambda: "the Pause button does not say Resume while paused" + _dashboard_state(page),
    )
    paused_at = _n_complete(storage, name)
    stored = _stored_trials(storage, name)
    assert all(state == "complete" for _, state in stored), f"a trial is running while paused: {stored}"
    screenshot(page, "dashboard-paused")
    # Nothing advances while paused (2 s is five trials' worth).
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert _n_complete(storage, name) == paused_at, "trials went on while paused" + _dashboard_state(page)
        time.sleep(0.25)
    assert execution_count(page, 1) == "*", "the cell ended while paused" + _dashboard_state(page)

    _click_button(page, "hpmagic-pause", "Resume")
    wait_until(
        lambda: _n_complete(storage, name) > paused_at,
        15,
        lambda: (
            f"no trial after Resume (stuck at {paused_at})" + _dashboard_state(page) + diagnostics(page, jupyter_lab)
        ),
    )
    wait_until(
        lambda: _status(page) == "running",
        10,
        lambda: "the status is not running after Resume" + _dashboard_state(page),
    )
    assert page.locator(f"{DASHBOARD} .hpmagic-pause").inner_text().strip() == "Pause"

    _click_button(page, "hpmagic-stop", "Stop")
    wait_until(
        lambda: _status(page) == "stopped",
        15,
        lambda: "the study did not stop within 15 s of Stop" + _dashboard_state(page) + diagnostics(page, jupyter_lab),
    )
    wait_for_cell_done(page, 1, timeout=30)
    screenshot(page, "dashboard-resumed-stopped")
    trials = _stored_trials(storage, name)
    assert paused_at < len(trials) < 40, (paused_at, trials)
    assert {state for _, state in trials} == {"complete"}, trials
