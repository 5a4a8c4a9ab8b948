"""The live ipywidgets dashboard: one widget under the ``%%tune`` cell, fed by the engine's events.

It shows the study's name, strategy, direction and size; a progress bar with N of total, elapsed time and ETA;
the best value and parameters; a live table sorted over every trial (a fixed number of rows, output one click away
per row, opening below it at full width); a live convergence plot that keeps its aspect ratio; the failures grouped
by cause; Stop and Pause controls (greyed out once they cannot act); and, once the study ends, a "Use best" button
and tabs to explore the results (for a multi-objective study, first the Pareto front: click a point, "Use this
trial").

The layout holds for any study: the table takes the width it is given and scrolls sideways when many parameters
need more (number, value and state first, so the objective stays in view; long values cut with the full text on
hover), the plot goes under the table when the notebook is narrow, and the widget keeps its height while trials
stream in. The rules are one stylesheet, scoped to the dashboard's class, in the dashboard itself.

Next to the widget the cell gets a static copy (the results table and a PNG of the plot) as a display of its own:
hidden while the live widget is on the page, it is what a saved notebook shows once the widget's model is gone
(reopened without the kernel, GitHub, nbviewer), instead of an error.

Redraws are throttled (text at most every ``min_interval`` seconds, the plot every ``plot_interval``), so the display
never dominates a run of fast trials. The controls act while the study runs when the front end delivers widget
messages to a busy kernel (JupyterLab 4.4+ and Notebook 7.4+ send them to a kernel subshell, ipykernel 7), and always
with ``--background``, where the study runs in a thread and the notebook stays usable.
"""

from __future__ import annotations

import base64
import html
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hpmagic.display.pareto_tab import ParetoTab
from hpmagic.display.view_model import DashboardModel, more_line, rows_html, trial_output
from hpmagic.events import Event, StudyFinished, StudyPaused, StudyStarted, StudyUnpaused, TrialFinished, TrialStarted
from hpmagic.fanova import MIN_TRIALS
from hpmagic.results import overfitting_note, results_html, results_text
from hpmagic.trial import TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["DASHBOARD_CSS", "STATIC_CSS", "Dashboard", "static_copy"]

_BAR_STYLES = {
    "running": "info",
    "paused": "warning",
    "stopping": "warning",
    "finished": "success",
    "timed out": "success",
    "stopped": "warning",
    "interrupted": "warning",
    "failed": "danger",
}
_VALUE_SORT = "value (best first)"
#: The live plot's figure, in inches at 80 dpi: 480 x 240 pixels, shown at that aspect ratio at any width.
_PLOT_SIZE = (6.0, 3.0)

#: The dashboard's layout rules, scoped to its class so nothing else on the page changes. The last rule hides the
#: static copy of this output while the live widget is shown (the copy is for when the widget's model is gone).
#: The table's horizontal scrollbar track is always drawn (overflow-x: scroll), so the widget's height does not
#: jump by the scrollbar's height when the table first grows wider than the notebook.
DASHBOARD_CSS = """
.hpmagic-dashboard { max-width: 100%; min-width: 0; box-sizing: border-box; overflow: hidden; }
.hpmagic-dashboard > * { min-width: 0; max-width: 100%; }
.hpmagic-dashboard .hpmagic-line { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.hpmagic-dashboard .hpmagic-line .widget-html-content,
.hpmagic-dashboard .hpmagic-line .jupyter-widget-html-content { white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.hpmagic-dashboard .hpmagic-progress-row { flex-wrap: nowrap; overflow: hidden; align-items: center; }
.hpmagic-dashboard .hpmagic-progress { flex: 0 1 40%; min-width: 80px; }
.hpmagic-dashboard .hpmagic-progress-text, .hpmagic-dashboard .hpmagic-status { flex: 0 1 auto; min-width: 0;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.hpmagic-dashboard .hpmagic-status { margin-left: 12px; font-weight: bold; }
.hpmagic-dashboard .hpmagic-controls { flex-wrap: wrap; overflow: visible; }
.hpmagic-dashboard .hpmagic-controls button:disabled { background: var(--jp-layout-color3, #ddd);
  color: var(--jp-ui-font-color2, #666); }
.hpmagic-dashboard .hpmagic-body { flex-flow: row wrap; align-items: flex-start; overflow: visible; gap: 8px; }
.hpmagic-dashboard .hpmagic-table { flex: 1 1 520px; min-width: 0; max-width: 100%; overflow: hidden; }
.hpmagic-dashboard .hpmagic-table > .widget-html-content,
.hpmagic-dashboard .hpmagic-table > .jupyter-widget-html-content { min-width: 0; max-width: 100%; overflow-x: scroll;
  overflow-y: hidden; line-height: normal; container-type: inline-size; padding-bottom: 2px; }
.hpmagic-dashboard .hpmagic-table > div::-webkit-scrollbar { height: 10px; }
.hpmagic-dashboard .hpmagic-table > div::-webkit-scrollbar-track { background: var(--jp-layout-color2, #eee); }
.hpmagic-dashboard .hpmagic-table > div::-webkit-scrollbar-thumb { background: var(--jp-border-color1, #bbb);
  border-radius: 5px; }
.hpmagic-dashboard table.hpmagic-trials { border-collapse: collapse; font-size: 12px; width: 100%; }
.hpmagic-dashboard .hpmagic-trials th, .hpmagic-dashboard .hpmagic-trials td { white-space: nowrap;
  padding: 0 6px; height: 20px; line-height: 20px; text-align: right; vertical-align: top; }
.hpmagic-dashboard .hpmagic-trials thead th { border-bottom: 1px solid var(--jp-border-color1, #ccc); }
.hpmagic-dashboard .hpmagic-trials td.hpmagic-param, .hpmagic-dashboard .hpmagic-trials th.hpmagic-param {
  max-width: 10em; overflow: hidden; text-overflow: ellipsis; }
.hpmagic-dashboard .hpmagic-trials .hpmagic-note { width: 100%; max-width: 0; min-width: 12em; overflow: hidden;
  text-overflow: ellipsis; text-align: left; }
.hpmagic-dashboard .hpmagic-trials .hpmagic-number { min-width: 2.5em; }
.hpmagic-dashboard .hpmagic-trials .hpmagic-state, .hpmagic-dashboard .hpmagic-trials .hpmagic-text {
  text-align: left; }
.hpmagic-dashboard .hpmagic-trials tr.hpmagic-placeholder td, .hpmagic-dashboard .hpmagic-trials tr.hpmagic-more td {
  text-align: left; color: var(--jp-ui-font-color2, #666); }
.hpmagic-dashboard .hpmagic-toggle { cursor: pointer; color: var(--jp-brand-color1, #1976d2); }
.hpmagic-dashboard .hpmagic-toggle input { margin: 0 3px 0 0; vertical-align: middle; }
.hpmagic-dashboard .hpmagic-trials tr.hpmagic-output-row { display: none; }
.hpmagic-dashboard .hpmagic-trials tr.hpmagic-row:has(input.hpmagic-toggle-box:checked) + tr.hpmagic-output-row {
  display: table-row; }
.hpmagic-dashboard .hpmagic-trials tr.hpmagic-output-row td { height: auto; padding: 0; text-align: left;
  line-height: normal; }
.hpmagic-dashboard pre.hpmagic-output { position: sticky; left: 0; box-sizing: border-box; width: 100cqw;
  max-height: 16em; overflow: auto; margin: 0 0 4px 0; padding: 4px 6px; white-space: pre-wrap;
  overflow-wrap: anywhere; background: var(--jp-layout-color2, #f5f5f5); font-size: 11px; }
.hpmagic-dashboard .hpmagic-plot-box { flex: 0 1 480px; min-width: 0; max-width: 100%; aspect-ratio: 2 / 1;
  overflow: hidden; margin: 0; }
.hpmagic-dashboard .hpmagic-plot-box > img { margin: 0; }
.hpmagic-dashboard .hpmagic-plot-box img, .hpmagic-dashboard .hpmagic-explore img { display: block; width: 100%;
  height: 100%; object-fit: contain; }
.hpmagic-dashboard .hpmagic-explore img { height: auto; max-width: 640px; }
.hpmagic-dashboard .hpmagic-failures details pre { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em;
  overflow: auto; }
.hpmagic-dashboard .hpmagic-failures summary { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.hpmagic-dashboard .hpmagic-failures > div > details > summary, .hpmagic-dashboard .hpmagic-no-failures {
  height: 20px; line-height: 20px; }
.hpmagic-dashboard .hpmagic-no-failures { color: var(--jp-ui-font-color2, #666); }
.hpmagic-dashboard .hpmagic-message pre { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 16em;
  overflow: auto; }
.hpmagic-dashboard .hpmagic-explore .lm-TabBar-content { flex-wrap: wrap; }
.hpmagic-dashboard .hpmagic-explore > .lm-TabBar { min-height: fit-content; overflow: visible; }
.hpmagic-dashboard.jupyter-widgets .hpmagic-explore.jupyter-widget-tab > .lm-TabBar .lm-TabBar-tab {
  flex: 0 0 auto; max-width: none; }
.hpmagic-dashboard .hpmagic-explore .lm-TabBar-tabLabel { overflow: visible; text-overflow: clip; }
.jp-OutputArea-child:has(.hpmagic-dashboard) ~ .jp-OutputArea-child:has(.hpmagic-static) { display: none; }
"""

#: Rules the static copy carries: wide tables scroll inside it, and where this output's widget cannot be shown
#: (its model is gone: a saved notebook reopened without the kernel), the widget's error line is hidden so the copy
#: stands alone.
STATIC_CSS = """
.hpmagic-static { max-width: 100%; overflow-x: auto; }
.hpmagic-static img { max-width: 100%; height: auto; }
.jp-OutputArea-child:has(> .jp-OutputArea-output.jupyter-widgets):not(:has(> .jp-OutputArea-output > *)):has(
  + .jp-OutputArea-child .hpmagic-static) { display: none; }
"""


def static_copy(study: Study | None, png: bytes | None = None, pareto_png: bytes | None = None) -> dict[str, str]:
    """The static copy of a dashboard: the results table and the plots (the convergence plot, and the Pareto front
    of a multi-objective study) as HTML, the table as text."""
    if study is None:
        return {"text/plain": "", "text/html": ""}
    body = results_html(study)
    for alt, picture in (("convergence plot", png), ("Pareto front", pareto_png)):
        if picture:
            body += (
                f'<img alt="{alt}" style="max-width:100%;height:auto" '
                f'src="data:image/png;base64,{base64.b64encode(picture).decode()}"/>'
            )
    return {
        "text/plain": results_text(study),
        "text/html": f'<div class="hpmagic-static"><style>{STATIC_CSS}</style>{body}</div>',
    }


class Dashboard:
    """A reporter that renders a study as one ipywidgets dashboard.

    Args:
        top_k: how many rows the live table shows (the first of every trial, in the chosen order).
        min_interval: seconds between redraws of the text, progress and table.
        plot_interval: seconds between redraws of the live plot.
        on_use_best: called by the "Use best" button after the study; returns a message to show.
        on_use_trial: called with a trial's number by the Pareto tab's "Use this trial"; returns a message to show.
        explore: add the exploration tabs when the study ends.
    """

    def __init__(
        self,
        *,
        top_k: int = 10,
        min_interval: float = 0.25,
        plot_interval: float = 1.0,
        on_use_best: Callable[[], str] | None = None,
        on_use_trial: Callable[[int], str] | None = None,
        explore: bool = True,
    ) -> None:
        import ipywidgets as w

        self.model = DashboardModel(top_k=top_k)
        self.min_interval = min_interval
        self.plot_interval = plot_interval
        self.on_use_best = on_use_best
        self.on_use_trial = on_use_trial
        self.pareto: ParetoTab | None = None  # the Pareto tab of a finished multi-objective study
        self.explore_enabled = explore
        self._lock = threading.RLock()
        self._last_text = 0.0
        self._last_plot = 0.0
        self._plotted_version = -1
        self._figure: Any = None
        self._display: Any = None
        self._static_display: Any = None
        self._ticker: threading.Thread | None = None

        def tagged(widget: Any, *names: str) -> Any:
            for name in names:
                widget.add_class(name)
            return widget

        self.style = tagged(w.HTML(f"<style>{DASHBOARD_CSS}</style>"), "hpmagic-style")
        self.style.layout.height = "0px"
        self.style.layout.margin = "0px"
        self.header = tagged(w.HTML(), "hpmagic-header", "hpmagic-line")
        self.bar = tagged(w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info"), "hpmagic-progress")
        self.progress_text = tagged(w.Label(), "hpmagic-progress-text")
        self.status = tagged(w.Label(value="waiting"), "hpmagic-status")
        self.best = tagged(w.HTML(), "hpmagic-best", "hpmagic-line")
        self.stop_button = tagged(w.Button(description="Stop", icon="stop", button_style="danger"), "hpmagic-stop")
        self.pause_button = tagged(w.Button(description="Pause", icon="pause"), "hpmagic-pause")
        self.use_best_button = tagged(
            w.Button(description="Use best", icon="check", disabled=True, tooltip="Publish the best trial again"),
            "hpmagic-use-best",
        )
        self.sort = tagged(w.Dropdown(options=[_VALUE_SORT], value=_VALUE_SORT, description="sort by"), "hpmagic-sort")
        self.sort.layout.width = "220px"
        self.reverse = tagged(w.ToggleButton(value=False, description="reverse", icon="sort"), "hpmagic-reverse")
        self.table = tagged(w.HTML(), "hpmagic-table")
        self.plot = tagged(w.Image(format="png"), "hpmagic-plot")
        self.plot.layout.visibility = "hidden"  # no broken-image icon before the first value
        self.plot_box = tagged(w.Box([self.plot]), "hpmagic-plot-box")
        self.failures = tagged(w.HTML(), "hpmagic-failures")
        self.explore = tagged(w.Tab(), "hpmagic-explore")
        self.explore.layout.display = "none"
        self.message = tagged(w.HTML(), "hpmagic-message")

        for control in (self.stop_button, self.pause_button, self.use_best_button, self.sort, self.reverse):
            _handle_in_subshell(control)
        self.stop_button.on_click(lambda _b: self.stop())
        self.pause_button.on_click(lambda _b: self.toggle_pause())
        self.use_best_button.on_click(lambda _b: self.use_best())
        self.sort.observe(lambda _c: self.refresh_table(), "value")
        self.reverse.observe(lambda _c: self.refresh_table(), "value")

        controls = tagged(
            w.HBox([self.stop_button, self.pause_button, self.use_best_button, self.sort, self.reverse]),
            "hpmagic-controls",
        )
        self.widget = tagged(
            w.VBox(
                [
                    self.style,
                    self.header,
                    tagged(w.HBox([self.bar, self.progress_text, self.status]), "hpmagic-progress-row"),
                    self.best,
                    controls,
                    self.message,
                    tagged(w.Box([self.table, self.plot_box]), "hpmagic-body"),
                    self.failures,
                    self.explore,
                ]
            ),
            "hpmagic-dashboard",
        )
        self.refresh_table()  # the placeholder rows: the table has its final height from the start

    # -- reporter ------------------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.model.handle(event)
        if isinstance(event, StudyStarted):
            self._refresh_all()
            self.show()
            self._start_ticker()
        elif isinstance(event, (TrialFinished, TrialStarted)):
            now = time.monotonic()
            if now - self._last_text >= self.min_interval:
                self._refresh_text()
                self.refresh_table()
                self._last_text = now
            if isinstance(event, TrialFinished) and now - self._last_plot >= self.plot_interval:
                self._refresh_plot()
        elif isinstance(event, (StudyPaused, StudyUnpaused)):
            self.pause_button.description = "Resume" if isinstance(event, StudyPaused) else "Pause"
            self.pause_button.icon = "play" if isinstance(event, StudyPaused) else "pause"
            self._refresh_text()
            self.refresh_table()
            self._refresh_plot()
        elif isinstance(event, StudyFinished):
            self.finish()

    # -- showing -----------------------------------------------------------------------------------------------------

    def show(self) -> None:
        """Display the dashboard, then its static copy (hidden while the widget is on the page)."""
        from IPython.display import display

        self._display = display(self._bundle(), raw=True, display_id=True)
        self._static_display = display(self._static_bundle(), raw=True, display_id=True)

    def load(self, study: Study) -> Dashboard:
        """Fill the dashboard with a stored study that is not running (``%tune_show``)."""
        self.model.load(study)
        self.finish()
        return self

    def finish(self) -> None:
        """Final state: everything redrawn, controls switched, exploration tabs added, static copy updated."""
        self._refresh_all()
        for button in (self.stop_button, self.pause_button):
            button.disabled = True
            button.button_style = ""  # greyed out: a finished study cannot be stopped or paused
        # A multi-objective study's "Use best" publishes the front's trial best on the primary objective.
        has_best = self.model.best() is not None or bool(self.model.front())
        self.use_best_button.disabled = self.on_use_best is None or not has_best
        if self.model.message and self.model.status not in ("finished", "timed out"):
            self.message.value = f"<pre>{html.escape(self.model.message)}</pre>"
        note = overfitting_note(self.model.study) if self.model.study is not None else None
        if note is not None:  # the held-out value appears only now that the study is over
            colour = "#cf222e" if note[1] else "inherit"
            self.message.value += f"<div class='hpmagic-test-gap' style='color:{colour}'>{html.escape(note[0])}</div>"
        if self.explore_enabled:
            self._build_explore()
        for handle, bundle in ((self._display, self._bundle), (self._static_display, self._static_bundle)):
            if handle is not None:
                try:
                    handle.update(bundle(), raw=True)
                except Exception:  # noqa: BLE001 - the copies are a nicety; the widget is already final
                    pass

    def _bundle(self) -> dict[str, Any]:
        """The widget's own output: its view, and one line of text for front ends without widgets."""
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": f"hpmagic dashboard: {self.model.header()}",
        }

    def _static_bundle(self) -> dict[str, Any]:
        pareto = self.pareto.png if self.pareto is not None else None
        return static_copy(self.model.study, bytes(self.plot.value) if self.plot.value else None, pareto)

    # -- controls ----------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the running trial; completed trials are kept."""
        study = self.model.study
        if study is None or self.model.finished:
            return
        study.stop()
        self.model.request_stop()
        for button in (self.stop_button, self.pause_button):  # a stopping study (even a paused one) just ends
            button.disabled = True
            button.button_style = ""
        self._refresh_text()

    def toggle_pause(self) -> None:
        """Pause after the running trial, or go on."""
        study = self.model.study
        if study is None or self.model.finished or self.model.status == "stopping":
            return
        if self.model.status == "paused" or self.pause_button.description == "Resume":
            study.unpause()
            self.pause_button.description = "Pause"
            self.pause_button.icon = "pause"
        else:
            study.pause()
            self.pause_button.description = "Resume"
            self.pause_button.icon = "play"
            self.status.value = "pausing after this trial"

    def use_best(self) -> None:
        """Publish the best trial's parameters and variables again."""
        if self.on_use_best is None:
            return
        try:
            self.message.value = html.escape(self.on_use_best())
        except Exception as exc:  # noqa: BLE001 - shown to the user, never raised into the front end
            self.message.value = html.escape(f"could not publish the best trial: {type(exc).__name__}: {exc}")

    # -- redrawing ---------------------------------------------------------------------------------------------------

    def _refresh_all(self) -> None:
        self._refresh_text()
        self.refresh_table()
        self._refresh_plot()
        self._refresh_failures()

    def _refresh_text(self) -> None:
        with self._lock:
            m = self.model
            progress = m.progress()
            header = html.escape(m.header())
            self.header.value = f'<b title="{header}">{header}</b>'
            self.bar.value = progress.fraction
            self.bar.bar_style = _BAR_STYLES.get(m.status, "info")
            self.progress_text.value = progress.text
            self.status.value = m.status_text()
            best = html.escape(m.best_text())
            self.best.value = f'<span title="{best}">{best}</span>'
            self._refresh_failures()

    def refresh_table(self) -> None:
        """Redraw the table with the current sort, over every trial."""
        with self._lock:
            columns = [_VALUE_SORT, *self.model.columns()[1:]]
            if list(self.sort.options) != columns:
                current = self.sort.value if self.sort.value in columns else _VALUE_SORT
                self.sort.options = columns
                self.sort.value = current
            sort_by = "value" if self.sort.value == _VALUE_SORT else self.sort.value
            descending = None
            if self.reverse.value:
                default = sort_by == "value" and self.model.direction == "maximize"
                descending = not default
            table = self.model.table(sort_by, descending)
            label = sort_by + (" (reversed)" if self.reverse.value else "")
            value = rows_html(
                table.rows,
                self.model.params(),
                self.model.fidelity(),
                n_rows=self.model.top_k,
                more=more_line(table, label),
                value_label=self.model.value_label(),
            )
            if value != self.table.value:  # an unchanged table keeps its opened outputs
                self.table.value = value

    def _refresh_plot(self) -> None:
        with self._lock:
            study = self.model.study
            if study is None or self._plotted_version == self.model.version:
                return
            if not any(t.value is not None for t in study.trials):
                return
            from hpmagic.plot import convergence, render_png

            if self._figure is None:
                from matplotlib.figure import Figure

                self._figure = Figure(figsize=_PLOT_SIZE, dpi=80)
            self._figure.clear()
            ax = self._figure.add_subplot(111)
            convergence(study, ax=ax)
            self._figure.tight_layout()
            self.plot.value = render_png(self._figure)
            self.plot.layout.visibility = "visible"
            self._plotted_version = self.model.version
            self._last_plot = time.monotonic()

    def _refresh_failures(self) -> None:
        groups = self.model.failure_groups()
        if not groups:  # a line of the same height as the panel's, so the first failure does not move the page
            self.failures.value = "<div class='hpmagic-no-failures'>no failed trials</div>"
            return
        esc = html.escape
        by_number = {t.number: t for t in self.model.failed()}
        items = []
        for cause, numbers in groups[:10]:
            first = by_number.get(numbers[0])
            listed = ", ".join(str(n) for n in numbers[:12]) + (", …" if len(numbers) > 12 else "")
            trials = f"{len(numbers)} trial{'s' if len(numbers) > 1 else ''}"
            output = esc(trial_output(first)) if first is not None else ""
            items.append(
                f'<details><summary title="{esc(cause)}">{trials}: {esc(cause)}</summary>'
                f"<div>trials {listed}; the output of trial {numbers[0]}:</div><pre>{output}</pre></details>"
            )
        more = f"<div>… {len(groups) - 10} more causes</div>" if len(groups) > 10 else ""
        n_failed = sum(len(numbers) for _, numbers in groups)
        self.failures.value = f"<details><summary>{n_failed} failed trials</summary>{''.join(items)}{more}</details>"

    def _start_ticker(self) -> None:
        """Tick the elapsed time and ETA every second, even while a long trial runs."""

        def tick() -> None:
            study = self.model.study
            while not self.model.finished and (study is None or study.running):
                time.sleep(1.0)
                if not self.model.finished:
                    try:
                        self._refresh_text()
                    except Exception:  # noqa: BLE001 - the ticker must never disturb the study
                        return

        self._ticker = threading.Thread(target=tick, name="hpmagic-dashboard-ticker", daemon=True)
        self._ticker.start()

    # -- exploring -----------------------------------------------------------------------------------------------

    def _build_explore(self) -> None:
        import ipywidgets as w

        from hpmagic import plot

        study = self.model.study
        if study is None or not any(t.value is not None for t in study.trials):
            return
        tabs: list[tuple[str, Any]] = []
        if getattr(study, "is_multi_objective", False):  # first: the front is what such a study is for
            try:
                self.pareto = ParetoTab(study, self.on_use_trial)
                tabs.append(("Pareto front", self.pareto.widget))
            except Exception as exc:  # noqa: BLE001 - as the other tabs: say so in the tab, keep the dashboard
                tabs.append(("Pareto front", w.HTML(f"<i>{html.escape(f'{type(exc).__name__}: {exc}')}</i>")))
        tabs += [
            ("Convergence", _image(lambda fig: plot.convergence(study, ax=fig.add_subplot(111)))),
            ("Parallel coordinates", _image(lambda fig: plot.parallel_coordinates(study, ax=fig.add_subplot(111)))),
        ]
        params = self.model.params()
        if params:
            chooser = w.Dropdown(options=params, value=params[0], description="parameter")
            chooser.add_class("hpmagic-param-choice")
            scatter = w.VBox(
                [chooser, _image(lambda fig: plot.param_scatter(study, params[0], ax=fig.add_subplot(111)))]
            )

            def redraw(change: Any) -> None:
                scatter.children = (
                    chooser,
                    _image(lambda fig: plot.param_scatter(study, change["new"], ax=fig.add_subplot(111))),
                )

            chooser.observe(redraw, "value")
            tabs.append(("Parameter vs objective", scatter))
        # Every study with enough complete trials and more than one parameter: which of them mattered.
        if len(params) > 1 and sum(t.state is TrialState.COMPLETE for t in study.trials) >= MIN_TRIALS:
            tabs.append(("Importance", _image(lambda fig: plot.importance(study, ax=fig.add_subplot(111)))))
        if any(t.intermediate for t in study.trials):
            tabs.append(("Learning curves", _image(lambda fig: plot.learning_curves(study, ax=fig.add_subplot(111)))))
        # Extra tabs are the ones the study's sampler and scheduler declare (``tabs``), never a list of names here.
        if "pbt_schedule" in study.tabs and params:
            tabs.append(
                ("PBT schedule", _image(lambda fig: plot.pbt_schedule_plot(study, params[0], ax=fig.add_subplot(111))))
            )
        if "partial_dependence" in study.tabs:
            tabs.append(
                ("Partial dependence", _image(lambda fig: plot.partial_dependence(study, fig=fig), size=(8, 8)))
            )
        self.explore.children = [child for _, child in tabs]
        for i, (title, _) in enumerate(tabs):
            self.explore.set_title(i, title)
        self.explore.layout.display = None


def _handle_in_subshell(widget: Any) -> None:
    """Let the front end's kernel subshell handle this widget's messages while the main shell runs the study.

    JupyterLab 4.4+ sends each comm's messages to a subshell when the kernel has them (ipykernel 7), but ipykernel
    7.4 re-routes a comm's incoming messages to the shell that last sent on it: the busy main shell for widgets made
    by the running cell, so a click would wait for the study to end. Honouring the front end's choice makes Stop and
    Pause act between trials. ``_reply_subshell_for`` is ipykernel's own hook; without it nothing changes.
    """
    comm = getattr(widget, "comm", None)
    if comm is not None and hasattr(comm, "_reply_subshell_for"):
        comm._reply_subshell_for = lambda data, default: default


def _image(draw: Callable[[Any], Any], size: tuple[float, float] = (7, 4)) -> Any:
    """An Image widget of what ``draw(figure)`` draws (shown at its aspect ratio), or a short message if it cannot be
    drawn."""
    import ipywidgets as w
    from matplotlib.figure import Figure

    from hpmagic.plot import render_png

    fig = Figure(figsize=size, dpi=80)
    try:
        draw(fig)
        fig.tight_layout()
        image = w.Image(value=render_png(fig), format="png")
        image.add_class("hpmagic-explore-plot")
        return image
    except Exception as exc:  # noqa: BLE001 - e.g. too few trials for a model: say so in the tab
        return w.HTML(f"<i>{html.escape(f'{type(exc).__name__}: {exc}')}</i>")
