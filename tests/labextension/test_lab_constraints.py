"""A study with constraints on the JupyterLab study page (real JupyterLab and Chromium): the best value is the best
feasible one and the infeasible trials are greyed and marked in the trials table."""

from __future__ import annotations

from typing import Any

import hpmagic
from hpmagic import tune
from tests.browser.conftest import JupyterLab, diagnostics, open_notebook, screenshot, wait_until, write_notebook

from .conftest import open_studies_panel, study_row


def test_study_page_greys_infeasible_trials(page: Any, lab: JupyterLab) -> None:
    store = lab.root_dir / "constrained" / "hpmagic.db"
    store.parent.mkdir(exist_ok=True)
    study = hpmagic.optimize(
        lambda p: (p["x"] - 2) ** 2,
        {"x": tune.uniform(-5, 5)},
        strategy="random",
        n_trials=12,
        seed=0,
        storage=store,
        name="lab-constrained",
        constraints=["x <= 0"],
    )
    infeasible = sorted(t.number for t in study.trials if not t.feasible)
    assert infeasible and min(t.value for t in study.trials) < study.best_value
    path = write_notebook(lab.root_dir, "lab_constraints.ipynb", ["1 + 1"])
    open_notebook(page, lab.base_url, path)
    panel = open_studies_panel(page)
    row = wait_until(
        lambda: (r := study_row(page, "lab-constrained")).count() and r,
        30,
        lambda: f"the constrained study is not listed: {panel.inner_text()}" + diagnostics(page, lab),
    )
    shown = float(row.locator(".jp-hpmagic-best").inner_text().split()[0])
    assert abs(shown - study.best_value) <= 1e-3 * abs(study.best_value)  # the best feasible, not the lowest value
    row.click()
    study_page = page.locator(".jp-hpmagic-StudyPage:visible")
    study_page.locator(".jp-hpmagic-trials tbody tr").first.wait_for()
    greyed = study_page.locator(".jp-hpmagic-trials tbody tr.jp-hpmagic-infeasible")
    numbers = sorted(int(greyed.nth(i).get_attribute("data-number")) for i in range(greyed.count()))
    assert numbers == infeasible
    first = greyed.first
    assert "✗" in first.locator("td").nth(1).inner_text()
    assert first.locator("td").nth(2).get_attribute("title").startswith("infeasible: misses 1 constraint(s)")
    grey = first.locator("td").nth(2).evaluate("e => getComputedStyle(e).color")
    normal = study_page.locator(".jp-hpmagic-trials tbody tr:not(.jp-hpmagic-infeasible) td").nth(2)
    assert grey != normal.evaluate("e => getComputedStyle(e).color")
    screenshot(page, "lab-constraints-study-page")
