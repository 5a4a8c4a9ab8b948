"""Reporters: render the loop's events as a live HTML line in Jupyter or a one-line text progress elsewhere.

Both show nothing per trial beyond an in-place progress line (no log spam), and the results table at the end.
Updates are throttled so the display never dominates a run of fast trials.
"""

from __future__ import annotations

import html
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from hpmagic.display.progress import ProgressTracker
from hpmagic.events import Event, StudyFinished, StudyStarted, TrialFinished
from hpmagic.results import end_word, format_value, objective_labels, results_html, results_text, value_text

__all__ = ["HTMLReporter", "TextReporter", "default_reporter", "make_reporter"]


class _Progress:
    """What both reporters show while a study runs: the shared progress model, drawn at a bounded rate."""

    def __init__(self, min_interval: float) -> None:
        self.min_interval = min_interval
        self.last_draw = 0.0
        self.tracker = ProgressTracker()

    def start(self, event: StudyStarted) -> None:
        self.tracker.handle(event)

    def handle(self, event: Event) -> None:
        self.tracker.handle(event)

    def due(self, force: bool) -> bool:
        now = time.monotonic()
        if force or now - self.last_draw >= self.min_interval:
            self.last_draw = now
            return True
        return False

    def line(self, event: Event) -> str:
        study = event.study
        progress = self.tracker.progress()
        directions = (
            ", ".join(objective_labels(study)) if getattr(study, "is_multi_objective", False) else study.direction
        )
        parts = [f"{study.name} · {study.strategy_name} · {directions}", progress.text]
        if progress.failed:
            parts.append(f"{progress.failed} failed")
        best = None if getattr(study, "is_multi_objective", False) else study.best_trial
        if best is not None:
            params = ", ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
            parts.append(f"best {value_text(best)} ({params})")
        return " · ".join(parts)


class TextReporter:
    """A single progress line rewritten in place (``\\r``), then the results table."""

    def __init__(self, stream: TextIO | None = None, min_interval: float = 0.5, table: bool = True) -> None:
        self.stream = stream
        self.table = table
        self.progress = _Progress(min_interval)
        self._width = 0

    def __call__(self, event: Event) -> None:
        stream = self.stream or sys.stdout
        self.progress.handle(event)
        if isinstance(event, TrialFinished) and self.progress.due(force=False):
            # ``\r`` rewrites only the terminal's last row: a line wider than the terminal (many parameters, long
            # names or values) would leave a copy of its wrapped rows per update, so it is cut to the width.
            width = max(shutil.get_terminal_size().columns - 1, 20)
            text = self.progress.line(event)
            text = text if len(text) <= width else text[: width - 1] + "…"
            stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            stream.flush()
        elif isinstance(event, StudyFinished):
            if self._width:
                stream.write("\r" + " " * self._width + "\r")
            reason = str(event.reason)
            if reason in ("budget", "exhausted"):
                stream.write(f"{event.study.name}: {event.message or end_word(reason)}\n")
            elif reason != "failures":
                stream.write(f"{event.study.name}: {end_word(reason)}: {event.message}\n")
            if self.table:
                stream.write(results_text(event.study) + "\n")
            stream.flush()


class HTMLReporter:
    """In Jupyter: one HTML progress line updated in place, replaced by the results table at the end."""

    def __init__(self, min_interval: float = 0.25) -> None:
        self.progress = _Progress(min_interval)
        self._handle: Any = None

    def __call__(self, event: Event) -> None:
        from IPython.display import HTML, display

        self.progress.handle(event)
        if isinstance(event, StudyStarted):
            self._handle = display(HTML(self._line(event)), display_id=True)
        elif isinstance(event, TrialFinished) and self._handle is not None and self.progress.due(force=False):
            self._handle.update(HTML(self._line(event)))
        elif isinstance(event, StudyFinished):
            reason = str(event.reason)
            content = results_html(event.study)
            if reason not in ("budget", "exhausted", "failures"):
                content = f"<div><i>{html.escape(end_word(reason))}: {html.escape(event.message)}</i></div>" + content
            if self._handle is not None:
                self._handle.update(HTML(content))
            else:
                display(HTML(content))

    def _line(self, event: Event) -> str:
        return f'<div class="hpmagic-progress"><code>{html.escape(self.progress.line(event))}</code></div>'


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_reporter(
    kind: str = "auto",
    *,
    top_k: int = 10,
    on_use_best: Callable[[], str] | None = None,
    on_use_trial: Callable[[int], str] | None = None,
    background: bool = False,
) -> Any:
    """The live display for a run.

    ``auto`` picks the widget dashboard in a Jupyter kernel with ipywidgets, the HTML line in a kernel without them,
    and text elsewhere (with ``background``, text would interleave with the user's work, so nothing).
    """
    if kind == "none":
        return None
    if kind in ("auto", "widgets"):
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            if kind == "widgets":
                raise
        else:
            if kind == "widgets" or _in_kernel():
                from hpmagic.display.dashboard import Dashboard

                return Dashboard(top_k=top_k, on_use_best=on_use_best, on_use_trial=on_use_trial)
        kind = "html" if _in_kernel() else "text"
    if background:
        return None
    if kind == "html":
        return HTMLReporter()
    return TextReporter()


def default_reporter() -> Any:
    """The automatic choice of ``make_reporter``."""
    return make_reporter()
