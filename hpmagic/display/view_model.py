"""What the dashboard shows, computed from the engine's events with no widgets involved (so it is unit-testable).

Handling an event is O(1); the derived views (rows, progress) are computed only when the dashboard redraws, which it
does at a bounded rate.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpmagic.results import format_duration, format_value
from hpmagic.events import (
    Event,
    StudyFinished,
    StudyPaused,
    StudyStarted,
    StudyUnpaused,
    TrialFinished,
    TrialStarted,
)
from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["DashboardModel", "Progress", "Row"]

#: Dashboard status for each way a study can end.
_END_STATUS = {
    "budget": "finished",
    "exhausted": "finished",
    "timeout": "finished",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "failures": "failed",
    "error": "failed",
}


@dataclass(frozen=True)
class Progress:
    """The progress line: ``done`` of ``total`` trials (or elapsed of ``timeout``), with an ETA when known."""

    done: int
    total: int | None
    elapsed: float
    timeout: float | None
    eta: float | None
    fraction: float
    text: str


@dataclass(frozen=True)
class Row:
    """One line of the live table."""

    number: int
    state: str
    value: float | None
    duration: float | None
    params: dict[str, Any]
    note: str
    is_best: bool
    output: str = field(default="", repr=False)


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration."""
    seconds = int(max(seconds, 0) + 0.5)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class DashboardModel:
    """State of one study's dashboard.

    Args:
        top_k: how many of the best trials the table keeps.
        latest: how many of the most recent trials the table keeps besides the best ones.
    """

    def __init__(self, top_k: int = 10, latest: int = 3) -> None:
        self.top_k = top_k
        self.latest = latest
        self.study: Study | None = None
        self.strategy = ""
        self.n_trials: int | None = None
        self.timeout: float | None = None
        self.status = "waiting"
        self.message = ""
        self.running: Trial | None = None
        self.started = time.monotonic()
        self.paused_for = 0.0
        self._paused_at: float | None = None
        self._done_before = 0
        self._done = 0
        self._failed = 0
        self.version = 0  # bumped on every change, so views know when to redraw

    # -- events ------------------------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.handle(event)

    def handle(self, event: Event) -> None:
        """Update the state from one engine event."""
        self.version += 1
        if isinstance(event, StudyStarted):
            self.study = event.study
            self.strategy = event.strategy
            self.n_trials, self.timeout = event.n_trials, event.timeout
            self.started = time.monotonic()
            self._done_before = self._done = sum(1 for t in event.study.trials if t.state.finished)
            self._failed = sum(1 for t in event.study.trials if t.state is TrialState.FAILED)
            self.status = "running"
        elif isinstance(event, TrialStarted):
            self.running = event.trial
        elif isinstance(event, TrialFinished):
            self.running = None
            if event.trial.state.finished:
                self._done += 1
            if event.trial.state is TrialState.FAILED:
                self._failed += 1
        elif isinstance(event, StudyPaused):
            self.status = "paused"
            self._paused_at = time.monotonic()
        elif isinstance(event, StudyUnpaused):
            self.status = "running"
            self._end_pause()
        elif isinstance(event, StudyFinished):
            self._end_pause()
            self.running = None
            self.status = _END_STATUS.get(event.reason, event.reason)
            self.message = event.message

    def load(self, study: Study) -> None:
        """Show a stored study that is not running (``%tune_show``)."""
        self.study = study
        self.strategy = study.strategy_name
        self._done = self._done_before = sum(1 for t in study.trials if t.state.finished)
        self._failed = sum(1 for t in study.trials if t.state is TrialState.FAILED)
        self.n_trials = None
        self.status = "finished"
        self.version += 1

    def request_stop(self) -> None:
        """The Stop button was pressed: the running trial finishes first."""
        if self.status in ("running", "paused"):
            self.status = "stopping"
            self.version += 1

    def _end_pause(self) -> None:
        if self._paused_at is not None:
            self.paused_for += time.monotonic() - self._paused_at
            self._paused_at = None

    # -- views -------------------------------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status in ("finished", "stopped", "interrupted", "failed")

    @property
    def direction(self) -> str:
        return self.study.direction if self.study is not None else "minimize"

    def header(self) -> str:
        """Study name, strategy, direction, and budget."""
        if self.study is None:
            return ""
        arrow = "maximize ↑" if self.direction == "maximize" else "minimize ↓"
        budget = []
        if self.n_trials:
            budget.append(f"{self.n_trials} trials")
        if self.timeout:
            budget.append(f"timeout {clock(self.timeout)}")
        parts = [self.study.name, self.strategy, arrow]
        if budget:
            parts.append("budget " + ", ".join(budget))
        return " · ".join(parts)

    def progress(self, now: float | None = None) -> Progress:
        """Done of total (or elapsed of the timeout), elapsed time and an ETA."""
        now = time.monotonic() if now is None else now
        paused = self.paused_for + (now - self._paused_at if self._paused_at is not None else 0.0)
        elapsed = max(now - self.started - paused, 0.0)
        done, total = self._done, self.n_trials
        ran = done - self._done_before
        eta: float | None = None
        fractions = []
        if total:
            fractions.append(done / total)
            if ran > 0 and done < total and not self.finished:
                eta = elapsed / ran * (total - done)
        if self.timeout:
            fractions.append(min(elapsed / self.timeout, 1.0))
            left = max(self.timeout - elapsed, 0.0)
            eta = left if eta is None else min(eta, left)
        fraction = 1.0 if self.finished and self.status == "finished" else (max(fractions) if fractions else 0.0)
        text = f"{done}/{total} trials" if total else f"{done} trials"
        text += f" · {clock(elapsed)}"
        if self.timeout:
            text += f" of {clock(self.timeout)}"
        if eta is not None and not self.finished and self.status != "paused":
            text += f" · ETA {clock(eta)}"
        if self._failed:
            text += f" · {self._failed} failed"
        return Progress(done, total, elapsed, self.timeout, eta, min(max(fraction, 0.0), 1.0), text)

    def best(self) -> Trial | None:
        return self.study.best_trial if self.study is not None else None

    def best_text(self) -> str:
        """The best value so far and its parameters."""
        best = self.best()
        if best is None:
            return "no complete trial yet"
        params = ", ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
        return f"best {format_value(best.value)} (trial {best.number}): {params}"

    def params(self) -> list[str]:
        """Every parameter name, in order of first use."""
        from hpmagic.study import known_params

        return known_params(self.study.trials) if self.study is not None else []

    def columns(self) -> list[str]:
        """Columns the table can be sorted by."""
        return ["value", "#", *self.params(), "duration", "state"]

    def rows(self, sort_by: str = "value", descending: bool | None = None) -> list[Row]:
        """The best ``top_k`` trials, the running one and the ``latest`` ones, sorted by a column.

        Sorting by value puts the best first in either direction unless ``descending`` says otherwise; trials without
        a value (running, failed) go last.
        """
        if self.study is None:
            return []
        trials = self.study.trials
        best_trial = self.best()
        sign = -1.0 if self.direction == "maximize" else 1.0
        complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
        complete.sort(key=lambda t: (sign * t.value, t.number))  # type: ignore[operator]
        chosen: dict[int, Trial] = {t.number: t for t in complete[: self.top_k]}
        latest = (
            [t for t in trials[-(self.latest + 1) :] if t is not self.running][-self.latest :] if self.latest else []
        )
        for t in latest:
            chosen.setdefault(t.number, t)
        if self.running is not None:
            chosen.setdefault(self.running.number, self.running)
        rows = [self._row(t, t is best_trial) for t in chosen.values()]
        return sort_rows(rows, sort_by, descending, self.direction)

    def failed(self) -> list[Trial]:
        """Failed trials, newest first (for the collapsed failures panel)."""
        if self.study is None:
            return []
        return [t for t in reversed(self.study.trials) if t.state is TrialState.FAILED]

    def _row(self, t: Trial, is_best: bool) -> Row:
        state = "running" if t is self.running and t.state is TrialState.RUNNING else t.state.value
        note = "" if t.state is TrialState.COMPLETE else (t.error or "")
        return Row(t.number, state, t.value, t.duration, dict(t.params), note, is_best, trial_output(t))


def trial_output(t: Trial) -> str:
    """A trial's captured output and traceback, as one text."""
    parts = []
    if t.stdout:
        parts.append(t.stdout.rstrip("\n"))
    if t.stderr:
        parts.append("[stderr]\n" + t.stderr.rstrip("\n"))
    if t.traceback:
        parts.append(t.traceback.rstrip("\n"))
    return "\n".join(parts)


def sort_rows(rows: list[Row], sort_by: str, descending: bool | None, direction: str) -> list[Row]:
    """Sort table rows by a column (value: best first by default); rows without that column go last."""
    if descending is None:
        descending = sort_by == "value" and direction == "maximize"

    def cell(row: Row) -> Any:
        if sort_by == "value":
            return row.value if row.state == "complete" else None
        if sort_by == "#":
            return row.number
        if sort_by in ("duration", "state"):
            return getattr(row, sort_by)
        return row.params.get(sort_by)

    present = [(cell(r), r) for r in rows if cell(r) is not None]
    missing = sorted((r for r in rows if cell(r) is None), key=lambda r: -r.number)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in present)
    present.sort(key=lambda p: (p[0] if numeric else str(p[0]), p[1].number), reverse=descending)
    return [r for _, r in present] + missing


_STATE_COLOURS = {
    "complete": "#1a7f37",
    "failed": "#cf222e",
    "pruned": "#9a6700",
    "interrupted": "#6e7781",
    "running": "#0969da",
}


def rows_html(rows: list[Row], params: list[str]) -> str:
    """The live table as HTML; every user string escaped; captured output one click away per row."""
    esc = html.escape
    head = "".join(f"<th>{esc(p)}</th>" for p in params)
    body = []
    for r in rows:
        cells = "".join(f"<td>{esc(format_value(r.params.get(p)))}</td>" for p in params)
        output = f"<details><summary>output</summary><pre>{esc(r.output)}</pre></details>" if r.output else ""
        best = " hpmagic-best-row" if r.is_best else ""
        style = ' style="font-weight:bold"' if r.is_best else ""
        state = esc(r.state)
        colour = _STATE_COLOURS.get(r.state, "inherit")
        body.append(
            f'<tr class="hpmagic-row hpmagic-{state}{best}" data-state="{state}" data-number="{r.number}"{style}>'
            f"<td>{r.number}</td>{cells}<td>{esc(format_value(r.value))}</td><td>{format_duration(r.duration)}</td>"
            f'<td class="hpmagic-state" style="color:{colour}">{state}</td><td>{esc(r.note)}</td><td>{output}</td></tr>'
        )
    return (
        "<table class='hpmagic-trials'><thead><tr><th>#</th>"
        f"{head}<th>value</th><th>duration</th><th>state</th><th>note</th><th></th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
