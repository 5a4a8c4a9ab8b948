"""A notebook with the live dashboard, run by nbclient in a real kernel: its saved widget state shows the study."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    "%load_ext hpmagic",
    "%%tune --strategy bayes --trials 12 --seed 0 --name nb-dash --maximize\n"
    "x = tune.uniform(-2, 2)\nkind = tune.choice(['a', '<b>'])\n"
    "if x > 1.5:\n    raise ValueError('too far')\n-(x - 0.5) ** 2 + (kind == 'a')",
    "%tune_list",
    "%tune_show nb-dash",
    "%%tune --strategy random --trials 3 --seed 0 --name nb-latest\n"
    "import time\nx = tune.uniform(0, 1)\ntime.sleep(0.8)\nx",
    "%tune_show",
]
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    workdir = tmp_path_factory.mktemp("dashboard")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", store_widget_state=True, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return nb, workdir


def _models(nb: nbformat.NotebookNode) -> dict[str, dict]:
    return nb.metadata["widgets"][WIDGET_STATE]["state"]


def _by_class(models: dict[str, dict], css: str) -> list[dict]:
    return [m["state"] for m in models.values() if css in m["state"].get("_dom_classes", [])]


def test_saved_widget_state_shows_the_finished_study(executed):
    nb, _ = executed
    models = _models(nb)
    progress = [s["value"] for s in _by_class(models, "hpmagic-progress-text")]
    assert any(p.startswith("12/12 trials") for p in progress), progress
    statuses = [s["value"] for s in _by_class(models, "hpmagic-status")]
    assert any(s.endswith("finished") for s in statuses), statuses
    tables = [s["value"] for s in _by_class(models, "hpmagic-table")]
    assert any(t.count("<tr class=") >= 8 for t in tables), [t.count("<tr class=") for t in tables]
    assert all("<b>" not in t.replace("<b>best", "") for t in tables)  # the '<b>' choice is escaped
    assert any("&lt;b&gt;" in t for t in tables)
    assert any(">best " in s["value"] for s in _by_class(models, "hpmagic-best"))  # in a span with its full text
    assert _by_class(models, "hpmagic-plot"), "the live plot is an Image widget"
    explore = _by_class(models, "hpmagic-explore")
    assert explore and any("Partial dependence" in s.get("titles", []) for s in explore)


def test_dashboard_output_keeps_a_static_rendering(executed):
    nb, _ = executed
    outputs = nb.cells[1].outputs
    views = [o for o in outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(views) == 1, "one dashboard, and its static copy, nothing else printed by the run"
    data = views[0]["data"]
    assert data[WIDGET_VIEW]["model_id"] in _models(nb)
    # The static copy (for viewers without the widget's model) is an output of its own, next to the widget.
    static = [o["data"] for o in outputs if "hpmagic-static" in o.get("data", {}).get("text/html", "")]
    assert len(static) == 1 and "<table>" in static[0]["text/html"]
    assert "data:image/png;base64," in static[0]["text/html"] and "12 trials" in static[0]["text/plain"]
    streams = [o for o in outputs if o.get("output_type") == "stream"]
    assert streams == [], f"trial output leaked into the cell: {streams}"


def test_tune_list_and_tune_show(executed):
    nb, _ = executed
    listing = "".join(o["data"].get("text/html", "") for o in nb.cells[2].outputs if "data" in o)
    assert "nb-dash" in listing and "bayes" in listing
    shown = [o for o in nb.cells[3].outputs if WIDGET_VIEW in o.get("data", {})]
    assert len(shown) == 1
    assert "nb-dash" in "".join(o["data"].get("text/html", "") for o in nb.cells[3].outputs if "data" in o)


def test_tune_show_without_a_name_shows_the_latest_study_with_its_real_elapsed_time(executed):
    nb, _ = executed
    html = "".join(o["data"].get("text/html", "") for o in nb.cells[5].outputs if "data" in o)
    assert "nb-latest" in html and "nb-dash" not in html
    assert len([o for o in nb.cells[5].outputs if WIDGET_VIEW in o.get("data", {})]) == 1
    # A stored study's dashboard shows how long it ran (3 trials of 0.8 s), not the time since it was loaded.
    shown = [s["value"] for s in _by_class(_models(nb), "hpmagic-progress-text") if s["value"].startswith("3 trials")]
    assert shown and all(re.fullmatch(r"3 trials · 0:0[2-5]", v) for v in shown), shown
