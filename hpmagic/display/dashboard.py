"""The live ipywidgets dashboard: one widget under the ``%%tune`` cell, fed by the engine's events.

It shows the study's name, strategy, direction and budget; a progress bar with N of total, elapsed time and ETA;
the best value and parameters; a live table (best trials, the running one, the latest ones; sortable; output one
click away per row); a live convergence plot; a collapsed panel of failed trials; Stop and Pause controls; and, once
the study ends, a "Use best" button and tabs to explore the results.

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

from hpmagic.results import overfitting_note, results_html, results_text
from hpmagic.display.view_model import DashboardModel, rows_html, trial_output
from hpmagic.events import Event, StudyFinished, StudyPaused, StudyStarted, StudyUnpaused, TrialFinished, TrialStarted

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["Dashboard"]

_BAR_STYLES = {
    "running": "info",
    "paused": "warning",
    "stopping": "warning",
    "finished": "success",
    "stopped": "warning",
    "interrupted": "warning",
    "failed": "danger",
}
_VALUE_SORT = "value (best first)"


class Dashboard:
    """A reporter that renders a study as one ipywidgets dashboard.

    Args:
        top_k: how many best trials the live table keeps (plus the running and latest ones).
        min_interval: seconds between redraws of the text, progress and table.
        plot_interval: seconds between redraws of the live plot.
        on_use_best: called by the "Use best" button after the study; returns a message to show.
        explore: add the exploration tabs when the study ends.
    """

    def __init__(
        self,
        *,
        top_k: int = 10,
        min_interval: float = 0.25,
        plot_interval: float = 1.0,
        on_use_best: Callable[[], str] | None = None,
        explore: bool = True,
    ) -> None:
        import ipywidgets as w

        self.model = DashboardModel(top_k=top_k)
        self.min_interval = min_interval
        self.plot_interval = plot_interval
        self.on_use_best = on_use_best
        self.explore_enabled = explore
        self._lock = threading.RLock()
        self._last_text = 0.0
        self._last_plot = 0.0
        self._plotted_version = -1
        self._figure: Any = None
        self._display: Any = None
        self._ticker: threading.Thread | None = None

        def tagged(widget: Any, name: str) -> Any:
            widget.add_class(name)
            return widget

        self.header = tagged(w.HTML(), "hpmagic-header")
        self.bar = tagged(w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info"), "hpmagic-progress")
        self.bar.layout.width = "40%"
        self.progress_text = tagged(w.Label(), "hpmagic-progress-text")
        self.status = tagged(w.Label(value="waiting"), "hpmagic-status")
        self.best = tagged(w.HTML(), "hpmagic-best")
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
        self.plot.layout.max_width = "480px"
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

        self.table.layout.flex = "1 1 55%"
        self.table.layout.overflow = "auto"
        controls = w.HBox([self.stop_button, self.pause_button, self.use_best_button, self.sort, self.reverse])
        self.widget = tagged(
            w.VBox(
                [
                    self.header,
                    w.HBox([self.bar, self.progress_text, self.status]),
                    self.best,
                    controls,
                    self.message,
                    w.HBox([self.table, self.plot]),
                    self.failures,
                    self.explore,
                ]
            ),
            "hpmagic-dashboard",
        )

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
        """Display the dashboard (with a static HTML fallback for viewers without widgets)."""
        from IPython.display import display

        self._display = display(self._bundle(), raw=True, display_id=True)

    def load(self, study: Study) -> Dashboard:
        """Fill the dashboard with a stored study that is not running (``%tune_show``)."""
        self.model.load(study)
        self.finish()
        return self

    def finish(self) -> None:
        """Final state: everything redrawn, controls switched, exploration tabs added, static fallback updated."""
        self._refresh_all()
        self.stop_button.disabled = True
        self.pause_button.disabled = True
        best = self.model.best()
        self.use_best_button.disabled = self.on_use_best is None or best is None
        if self.model.message and self.model.status != "finished":
            self.message.value = f"<pre style='white-space:pre-wrap'>{html.escape(self.model.message)}</pre>"
        note = overfitting_note(self.model.study) if self.model.study is not None else None
        if note is not None:  # the held-out value appears only now that the study is over
            colour = "#cf222e" if note[1] else "inherit"
            self.message.value += f"<div class='hpmagic-test-gap' style='color:{colour}'>{html.escape(note[0])}</div>"
        if self.explore_enabled:
            self._build_explore()
        if self._display is not None:
            try:
                self._display.update(self._bundle(), raw=True)
            except Exception:  # noqa: BLE001 - the static copy is a nicety; the widget is already final
                pass

    def _bundle(self) -> dict[str, Any]:
        study = self.model.study
        static = results_html(study) if study is not None else ""
        if self.plot.value:
            static += f'<img src="data:image/png;base64,{base64.b64encode(self.plot.value).decode()}"/>'
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
            "text/plain": results_text(study) if study is not None and self.model.finished else self.model.header(),
            "text/html": static,
        }

    # -- controls ----------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the running trial; completed trials are kept."""
        study = self.model.study
        if study is None or self.model.finished:
            return
        study.stop()
        self.model.request_stop()
        self.stop_button.disabled = True
        self._refresh_text()

    def toggle_pause(self) -> None:
        """Pause after the running trial, or go on."""
        study = self.model.study
        if study is None or self.model.finished:
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
            self.header.value = f"<b>{html.escape(m.header())}</b>"
            self.bar.value = progress.fraction
            self.bar.bar_style = _BAR_STYLES.get(m.status, "info")
            self.progress_text.value = progress.text
            self.status.value = m.status
            self.best.value = html.escape(m.best_text())
            self._refresh_failures()

    def refresh_table(self) -> None:
        """Redraw the table with the current sort."""
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
            rows = self.model.rows(sort_by, descending)
            self.table.value = rows_html(rows, self.model.params())

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

                self._figure = Figure(figsize=(6, 3), dpi=80)
            self._figure.clear()
            ax = self._figure.add_subplot(111)
            convergence(study, ax=ax)
            self._figure.tight_layout()
            self.plot.value = render_png(self._figure)
            self._plotted_version = self.model.version
            self._last_plot = time.monotonic()

    def _refresh_failures(self) -> None:
        failed = self.model.failed()
        if not failed:
            self.failures.value = ""
            return
        esc = html.escape
        items = "".join(
            f"<details><summary>trial {t.number}: {esc(t.error or 'failed')}</summary>"
            f"<pre style='white-space:pre-wrap'>{esc(trial_output(t))}</pre></details>"
            for t in failed[:20]
        )
        more = f"<div>… {len(failed) - 20} more</div>" if len(failed) > 20 else ""
        self.failures.value = f"<details><summary>{len(failed)} failed trials</summary>{items}{more}</details>"

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
        tabs: list[tuple[str, Any]] = [
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
        if study.strategy_name == "pbt" and params:
            tabs.append(
                ("PBT schedule", _image(lambda fig: plot.pbt_schedule_plot(study, params[0], ax=fig.add_subplot(111))))
            )
        if study.strategy_name == "bayes":
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
    """An Image widget of what ``draw(figure)`` draws, or a short message if it cannot be drawn."""
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
