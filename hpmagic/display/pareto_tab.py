"""The dashboard's Pareto tab: two objectives of a multi-objective study, each trial a point that can be clicked.

The plot is ``hpmagic.plot.pareto_front`` drawn to a PNG. Over it lies one small transparent ipywidgets Button per
trial, placed where matplotlib drew that trial's point (as percentages of the picture, so the buttons follow it when
it is scaled down). A click reaches the kernel through the button's own widget comm like any button's: no script of
our own and no plotting-widget library, so it works wherever ipywidgets do (JupyterLab, Notebook 7, VS Code). The
clicked trial's objective values and parameters show under the plot, with "Use this trial", which publishes that
trial's variables into the notebook the way "Use best" publishes the best one's.

A 3-objective study offers each pair of objectives in a dropdown. Only the widgets live here; what is drawn is the
plot module's (``pareto_data``), and which trial a click means is the button's own number.
"""

from __future__ import annotations

import html
import itertools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from hpmagic.results import format_value
from hpmagic.trial import Trial, TrialState

__all__ = ["MAX_POINTS", "ParetoTab", "objective_pairs", "point_positions", "trial_html"]

#: The most trials the tab makes clickable (the front's first, then the newest): one button each.
MAX_POINTS = 400
#: The picture's size in inches at 80 dpi: 560 x 352 pixels.
_SIZE = (7.0, 4.4)
_DPI = 80

_CSS = """
.hpmagic-pareto-plot { position: relative; width: 560px; max-width: 100%; aspect-ratio: 560 / 352; margin: 0;
  overflow: hidden; }
.hpmagic-explore .hpmagic-pareto-plot > img.hpmagic-pareto-image { position: absolute; left: 0; top: 0; width: 100%;
  height: 100%; max-width: none; object-fit: fill; }
.hpmagic-pareto-plot > button.hpmagic-pareto-point { position: absolute; width: 12px; height: 12px; min-width: 0;
  margin: 0; padding: 0; border: 1px solid transparent; border-radius: 50%; background: transparent;
  box-shadow: none; transform: translate(-50%, -50%); cursor: pointer; z-index: 1; }
.hpmagic-pareto-plot > button.hpmagic-pareto-point:hover { border-color: #333; }
.hpmagic-pareto-plot > button.hpmagic-pareto-point.hpmagic-pareto-selected { border: 2px solid #000;
  width: 16px; height: 16px; z-index: 2; }
.hpmagic-pareto-detail table { border-collapse: collapse; font-size: 12px; }
.hpmagic-pareto-detail th, .hpmagic-pareto-detail td { padding: 0 8px 0 0; text-align: left; }
"""


def objective_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of objectives, in the study's order: one for two objectives, three for three."""
    return list(itertools.combinations(names, 2))


def _pair_label(pair: tuple[str, str]) -> str:
    return f"{pair[0]} vs {pair[1]}"


def point_positions(
    ax: Any, numbers: Sequence[int], x: Sequence[float], y: Sequence[float]
) -> list[tuple[int, float, float]]:
    """Where each point is on the drawn figure: ``(number, left %, top %)`` of the picture, from the top left.

    Call after the figure was drawn at its final size (the layout is then fixed): matplotlib's display coordinates
    count pixels from the bottom left of the figure.
    """
    import numpy as np

    fig = ax.figure
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    if not len(numbers):
        return []
    pixels = ax.transData.transform(np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)]))
    return [
        (int(n), float(100.0 * px / width), float(100.0 * (1.0 - py / height)))
        for n, (px, py) in zip(numbers, pixels, strict=True)
    ]


def trial_html(study: Any, trial: Trial) -> str:
    """A trial's objective values (with their directions), whether it meets the constraints, and its parameters."""
    esc = html.escape
    rows = []
    for name, direction, value in zip(study.objective_names, study.directions, trial.values or (), strict=False):
        arrow = "↑" if str(direction) == "maximize" else "↓"
        rows.append(f"<tr><th>{esc(name)} {arrow}</th><td>{esc(format_value(float(value)))}</td></tr>")
    constraints = list(getattr(study, "constraints", []) or [])
    for expr, amount in zip(constraints, trial.violations or (), strict=False):
        state = "met" if amount <= 0 else f"violated by {format_value(float(amount))}"
        rows.append(f"<tr><th>{esc(expr)}</th><td>{esc(state)}</td></tr>")
    for name, value in trial.params.items():
        rows.append(f"<tr><td>{esc(name)}</td><td>{esc(format_value(value))}</td></tr>")
    return f"<b>trial {trial.number}</b><table class='hpmagic-pareto-table'>{''.join(rows)}</table>"


class ParetoTab:
    """The Pareto tab of a finished multi-objective study.

    Args:
        study: the study (``objective_names``, ``directions``, ``trials``).
        on_use_trial: publishes the trial of that number into the notebook and returns a sentence saying what it
            did; None disables "Use this trial" (a study shown with ``%tune_show`` has no cell to replay).
    """

    def __init__(self, study: Any, on_use_trial: Callable[[int], str] | None = None) -> None:
        import ipywidgets as w

        self.study = study
        self.on_use_trial = on_use_trial
        self.selected: int | None = None
        self.png: bytes | None = None
        self.points: dict[int, Any] = {}
        self._key = f"hpmagic-pareto-{uuid.uuid4().hex[:8]}"
        self.pairs = objective_pairs(list(study.objective_names))
        labels = [_pair_label(p) for p in self.pairs]
        self.chooser = w.Dropdown(options=labels, value=labels[0], description="objectives")
        self.chooser.add_class("hpmagic-pareto-pair")
        self.chooser.layout.display = None if len(labels) > 1 else "none"
        self.style = w.HTML()
        self.style.layout.height = "0px"
        self.style.layout.margin = "0px"
        self.image = w.Image(format="png")
        self.image.add_class("hpmagic-pareto-image")
        self.plot = w.Box([self.image])
        self.plot.add_class("hpmagic-pareto-plot")
        self.plot.add_class(self._key)
        self.detail = w.HTML("<i>click a point to see its trial</i>")
        self.detail.add_class("hpmagic-pareto-detail")
        self.use_button = w.Button(
            description="Use this trial",
            icon="check",
            disabled=True,
            tooltip="Publish the selected trial's variables into the notebook",
        )
        self.use_button.add_class("hpmagic-use-trial")
        self.message = w.HTML()
        self.message.add_class("hpmagic-pareto-message")
        self.use_button.on_click(lambda _b: self.use())
        self.chooser.observe(lambda _c: self.draw(), "value")
        self.widget = w.VBox(
            [self.style, self.chooser, self.plot, self.detail, w.HBox([self.use_button]), self.message]
        )
        self.widget.add_class("hpmagic-pareto")
        self.draw()

    @property
    def pair(self) -> tuple[str, str]:
        return self.pairs[[_pair_label(p) for p in self.pairs].index(self.chooser.value)]

    def draw(self) -> None:
        """Draw the chosen pair and lay a button over each point."""
        import ipywidgets as w
        from matplotlib.figure import Figure

        from hpmagic.plot import pareto_data, pareto_front, render_png

        fig = Figure(figsize=_SIZE, dpi=_DPI)
        ax = fig.add_subplot(111)
        pareto_front(self.study, self.pair, ax=ax)
        fig.tight_layout()
        self.png = render_png(fig, dpi=_DPI)  # draws the figure: the axes' layout and limits are final now
        self.image.value = self.png
        data = pareto_data(self.study, self.pair)
        shown = _clickable(data.numbers, data.on_front)
        index = {n: i for i, n in enumerate(data.numbers)}
        positions = point_positions(ax, shown, [data.x[index[n]] for n in shown], [data.y[index[n]] for n in shown])
        by_number = {t.number: t for t in self.study.trials}
        rules, buttons = [], {}
        for number, left, top in positions:
            button = w.Button(description="", tooltip=_tooltip(self.study, by_number[number]))
            button.add_class("hpmagic-pareto-point")
            button.add_class(f"hpmagic-pt-{number}")
            button.on_click(lambda _b, n=number: self.select(n))
            buttons[number] = button
            rules.append(f".{self._key} .hpmagic-pt-{number} {{ left: {left:.3f}%; top: {top:.3f}%; }}")
        for old in self.points.values():
            old.close()
        self.points = buttons
        self.style.value = f"<style>{_CSS}{''.join(rules)}</style>"
        self.plot.children = (self.image, *buttons.values())
        if self.selected is not None and self.selected in buttons:
            buttons[self.selected].add_class("hpmagic-pareto-selected")

    def select(self, number: int) -> None:
        """Show trial ``number`` under the plot and let "Use this trial" publish it."""
        trial = next((t for t in self.study.trials if t.number == number), None)
        if trial is None:
            return
        if self.selected is not None and self.selected in self.points:
            self.points[self.selected].remove_class("hpmagic-pareto-selected")
        self.selected = number
        if number in self.points:
            self.points[number].add_class("hpmagic-pareto-selected")
        self.detail.value = trial_html(self.study, trial)
        self.use_button.disabled = self.on_use_trial is None or trial.state is not TrialState.COMPLETE
        self.use_button.description = f"Use trial {number}"
        self.message.value = ""

    def use(self) -> None:
        """Publish the selected trial's variables (the magic replays the cell with its parameters if need be)."""
        if self.on_use_trial is None or self.selected is None:
            return
        try:
            self.message.value = html.escape(self.on_use_trial(self.selected))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into the front end
            self.message.value = html.escape(f"could not publish trial {self.selected}: {type(exc).__name__}: {exc}")


def _clickable(numbers: Sequence[int], on_front: Sequence[bool]) -> list[int]:
    """The trials that get a button: all of them, or past ``MAX_POINTS`` the front's and then the newest."""
    if len(numbers) <= MAX_POINTS:
        return list(numbers)
    front = [n for n, on in zip(numbers, on_front, strict=True) if on][:MAX_POINTS]
    rest = [n for n, on in zip(numbers, on_front, strict=True) if not on]
    return sorted(front + rest[len(rest) - (MAX_POINTS - len(front)) :] if len(front) < MAX_POINTS else front)


def _tooltip(study: Any, trial: Trial) -> str:
    values = ", ".join(
        f"{n}={format_value(float(v))}" for n, v in zip(study.objective_names, trial.values or (), strict=False)
    )
    params = ", ".join(f"{k}={format_value(v)}" for k, v in trial.params.items())
    return f"trial {trial.number}: {values}" + (f" ({params})" if params else "")
