"""The dashboard, static copy and ``to_dataframe()`` of real multi-fidelity (Hyperband, PBT) and repeated studies
(no hand-made trial attributes): Hyperband's progress counts its schedule, and the budget, rung or member, continued
trial and the spread of ``--repeats`` show in every view."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("pandas")

import hpmagic
from hpmagic import tune
from hpmagic.display.dashboard import Dashboard
from hpmagic.events import StudyStarted


class _Recorded(Dashboard):
    """A dashboard that records instead of displaying, and keeps every progress line it showed."""

    def __init__(self, **kw: Any) -> None:
        self.lines: list[str] = []
        super().__init__(**kw)

    def show(self) -> None:
        pass

    def __call__(self, event: Any) -> None:
        super().__call__(event)
        if isinstance(event, StudyStarted) or not self.model.finished:
            self.lines.append(self.progress_text.value)


def curve(p: dict[str, Any]) -> float:
    """A learning curve that improves with every step (so promotions continue from earlier trials)."""
    value = 0.0
    for step in tune.steps():
        value = (p["x"] - 0.3) ** 2 + 1.0 / step
        tune.report(value, step=step)
    return value


def test_hyperband_progress_counts_its_schedule_and_the_table_shows_budget_rung_and_continues() -> None:
    dash = _Recorded(top_k=50, min_interval=0, plot_interval=0)
    study = hpmagic.optimize(
        curve, {"x": tune.uniform(0, 1)}, strategy="hyperband", budget=(1, 9), seed=0, n_trials=100, reporters=[dash]
    )
    n = len(study.trials)
    assert n < 100  # the schedule ends first: the bar does not count to --trials
    # The bar's total is the schedule Hyperband knows from the start, and the study ran exactly that.
    assert dash.lines[0].startswith(f"0/{n} trials"), dash.lines[:2]
    assert all(re.match(rf"\d+/{n} trials", line) for line in dash.lines), set(dash.lines)
    assert dash.progress_text.value.startswith(f"{n}/{n} trials")
    continued = [t for t in study.trials if "continues" in t.user_attrs]
    assert continued, "no promotion continued an earlier trial"
    table = dash.table.value
    for column in ("budget", "rung", "continues"):
        assert f">{column}<" in table, column
    t = continued[0]
    row = re.search(rf'<tr class="hpmagic-row[^>]*data-number="{t.number}".*?</tr>', table)
    assert row is not None
    cells = re.findall(r'<td class="hpmagic-fid">([^<]*)</td>', row.group(0))
    start = t.user_attrs.get("start")  # set when the promoted trial resumed from a snapshot
    budget = f"{start}..{t.user_attrs['budget']}" if start else str(t.user_attrs["budget"])
    assert cells[0] == budget and cells[2] == f"#{t.user_attrs['continues']}", cells
    assert re.fullmatch(r"b\d+ r\d+", cells[1]), cells
    static = dash._static_bundle()
    assert "budget 1..9 per trial" in static["text/plain"] and "continues" in static["text/html"]
    frame = study.to_dataframe()
    row_df = frame[frame["number"] == t.number].iloc[0]
    assert row_df["continues"] == t.user_attrs["continues"] and row_df["budget"] == t.user_attrs["budget"]
    assert {"rung", "bracket"} <= set(frame.columns)


def test_repeats_show_their_spread_in_the_table_the_static_copy_and_the_dataframe() -> None:
    dash = _Recorded(top_k=5, min_interval=0, plot_interval=0)

    def noisy(p: dict[str, Any]) -> float:
        return p["x"] + 0.1 * tune.seed

    study = hpmagic.optimize(
        noisy, {"x": tune.uniform(0, 1)}, strategy="random", n_trials=4, repeats=3, seed=0, reporters=[dash]
    )
    best = study.best_trial
    assert best.user_attrs["value_std"] == pytest.approx(0.1)
    assert best.value == pytest.approx(best.params["x"] + 0.1)
    shown = re.escape(f"{best.value:.6g} ± 0.1")
    assert re.search(shown, dash.table.value), dash.table.value
    static = dash._static_bundle()
    assert re.search(shown, static["text/plain"]) and re.search(shown, static["text/html"])
    frame = study.to_dataframe()
    assert set(frame["repeats"]) == {3} and frame["value_std"].to_numpy() == pytest.approx([0.1] * 4)


def test_pbt_members_and_rounds_show_in_the_table_and_the_dataframe() -> None:
    dash = _Recorded(top_k=30, min_interval=0, plot_interval=0)
    study = hpmagic.optimize(
        curve,
        {"x": tune.uniform(0, 1)},
        strategy="pbt",
        budget=(1, 8),
        seed=0,
        strategy_options={"population": 4},
        reporters=[dash],
    )
    assert ">member<" in dash.table.value and ">continues<" in dash.table.value
    members = re.findall(r'<td class="hpmagic-fid">(m\d+ r\d+)</td>', dash.table.value)
    assert {m.split()[0] for m in members} == {"m0", "m1", "m2", "m3"}, members
    frame = study.to_dataframe()
    assert set(frame["member"].dropna()) == {0, 1, 2, 3} and frame["round"].max() >= 1
