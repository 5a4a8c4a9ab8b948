"""What the dashboard shows, computed from the engine's events with no widgets involved (so it is unit-testable).

Handling an event is O(1); the derived views (rows, progress) are computed only when the dashboard redraws, which it
does at a bounded rate. The table is sorted over every trial of the study (not only the rows on screen) and always
has the same number of rows (placeholders until the study has that many trials), so the widget's height does not
jump while trials stream in.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpmagic.constraints import violation_text
from hpmagic.display.progress import Progress, ProgressTracker, clock
from hpmagic.events import (
    Event,
    StudyFinished,
    StudyPaused,
    StudyStarted,
    StudyUnpaused,
)
from hpmagic.results import (
    end_word,
    failure_cause,
    failure_groups,
    fidelity_cell,
    fidelity_columns,
    format_duration,
    format_value,
    objective_labels,
    sort_trials,
    value_text,
)
from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["DashboardModel", "Progress", "Row", "Table", "clock", "rows_html", "trial_output"]

#: Dashboard status for each way a study can end.
_END_STATUS = {
    "budget": "finished",
    "exhausted": "finished",
    "timeout": "timed out",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "failures": "failed",
    "error": "failed",
}
FINISHED_STATES = ("finished", "timed out", "stopped", "interrupted", "failed")


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
    value_text: str = ""
    fidelity: dict[str, str] = field(default_factory=dict)
    #: False for a complete trial that violates a constraint: drawn greyed, never the best.
    feasible: bool = True


@dataclass(frozen=True)
class Table:
    """The rows on screen, out of ``total`` trials sorted by ``sort_by``; ``running`` lists running trials not shown."""

    rows: list[Row]
    total: int
    sort_by: str
    running: list[int]

    @property
    def more(self) -> int:
        """Trials not on screen."""
        return self.total - len(self.rows)


class DashboardModel:
    """State of one study's dashboard.

    Args:
        top_k: how many rows the table shows (the first ``top_k`` of every trial, in the chosen order).
    """

    def __init__(self, top_k: int = 10) -> None:
        self.top_k = top_k
        self.tracker = ProgressTracker()
        self.study: Study | None = None
        self.strategy = ""
        self.status = "waiting"
        self.message = ""
        self.version = 0  # bumped on every change, so views know when to redraw

    # -- events ------------------------------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.handle(event)

    def handle(self, event: Event) -> None:
        """Update the state from one engine event."""
        self.version += 1
        self.tracker.handle(event)
        if isinstance(event, StudyStarted):
            self.study = event.study
            self.strategy = event.strategy if isinstance(event.strategy, str) else event.study.strategy_name
            self.status = "running"
            self.message = ""
        elif isinstance(event, StudyPaused):
            self.status = "paused"
        elif isinstance(event, StudyUnpaused):
            self.status = "running"
        elif isinstance(event, StudyFinished):
            self.status = _END_STATUS.get(str(event.reason), str(event.reason))
            self.message = event.message

    def load(self, study: Study) -> None:
        """Show a stored study that is not running (``%tune_show``)."""
        self.study = study
        self.strategy = study.strategy_name
        self.tracker.load(study)
        reason = str(study.last_finish.reason) if study.last_finish is not None else "budget"
        self.status = _END_STATUS.get(reason, reason)
        self.version += 1

    def request_stop(self) -> None:
        """The Stop button was pressed: the running trial finishes first."""
        if self.status in ("running", "paused"):
            self.status = "stopping"
            self.version += 1

    # -- views -------------------------------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATES

    @property
    def running(self) -> Trial | None:
        """The most recently started trial still running, if any."""
        running = list(self.tracker.running.values())
        return running[-1] if running else None

    @property
    def direction(self) -> str:
        return self.study.direction if self.study is not None else "minimize"

    def header(self) -> str:
        """Study name, strategy, direction, the study's size in trials, and each trial's ``--budget`` range."""
        if self.study is None:
            return ""
        arrow = ", ".join(objective_labels(self.study))
        size = []
        total = self.tracker.total
        if total:
            size.append(f"{total} trials")
        if self.tracker.timeout:
            size.append(f"timeout {clock(self.tracker.timeout)}")
        parts = [self.study.name, self.strategy, arrow]
        if size:
            parts.append(", ".join(size))
        resource = getattr(self.study, "resource", None)
        if resource:
            parts.append(f"budget {resource[0]}..{resource[1]} per trial")
        return " · ".join(parts)

    def progress(self, now: float | None = None) -> Progress:
        """Done of total (or elapsed of the timeout), elapsed time and an ETA: the model every reporter shares."""
        return self.tracker.progress(now, self.status)

    def status_text(self) -> str:
        """The status line, e.g. "running", "5 failed, stopped", "timed out"."""
        if self.finished:
            reason = self.tracker.finish_reason
            word = end_word(reason) if reason is not None else self.status
            if reason == "failures":
                word = "stopped (failures in a row)"
        else:
            word = self.status
        return f"{self.tracker.failed} failed, {word}" if self.tracker.failed else word

    @property
    def multi_objective(self) -> bool:
        return bool(getattr(self.study, "is_multi_objective", False))

    def best(self) -> Trial | None:
        """The best trial (None for a multi-objective study: it has a front of them, ``front()``)."""
        if self.study is None or self.multi_objective:
            return None
        return self.study.best_trial

    def front(self) -> list[Trial]:
        """A multi-objective study's best trials: the Pareto set of its complete feasible trials."""
        if self.study is None or not self.multi_objective:
            return []
        from hpmagic.pareto import pareto_trials

        return pareto_trials(self.study.trials, self.study.directions)

    def best_text(self) -> str:
        """The best value so far and its parameters (a multi-objective study: the trials on its Pareto front)."""
        if self.multi_objective:
            front = self.front()
            if not front:
                return "no complete trial yet"
            listed = ", ".join(str(t.number) for t in front[:12]) + (", …" if len(front) > 12 else "")
            return f"Pareto front: {len(front)} trial{'s' if len(front) > 1 else ''} ({listed})"
        best = self.best()
        if best is None:
            return "no complete trial yet"
        params = ", ".join(f"{k}={format_value(v)}" for k, v in best.params.items())
        return f"best {value_text(best)} (trial {best.number}): {params}"

    def params(self) -> list[str]:
        """Every parameter name, in order of first use."""
        from hpmagic.study import known_params

        return known_params(self.study.trials) if self.study is not None else []

    def fidelity(self) -> list[str]:
        """The multi-fidelity columns this study has (budget, rung, member, continues)."""
        return fidelity_columns(self.study.trials) if self.study is not None else []

    def value_label(self) -> str:
        """The value column's title: ``value``, or each objective with its direction (``acc ↑ · size ↓``)."""
        study = self.study
        if study is None or not self.multi_objective:
            return "value"
        arrows = zip(study.objective_names, study.directions, strict=True)
        return " · ".join(f"{n} {'↑' if str(d) == 'maximize' else '↓'}" for n, d in arrows)

    def columns(self) -> list[str]:
        """Columns the table can be sorted by."""
        return ["value", "#", "duration", "state", *self.fidelity(), *self.params()]

    def table(self, sort_by: str = "value", descending: bool | None = None) -> Table:
        """Every trial sorted by a column; the first ``top_k`` are shown.

        Sorting by value puts the best first in either direction unless ``descending`` says otherwise; ties are
        listed oldest first; trials without a value (running, failed) go last.
        """
        if self.study is None:
            return Table([], 0, sort_by, [])
        trials = list(self.study.trials)
        best_trial = self.best()
        front = {t.number for t in self.front()}
        ordered = sort_trials(trials, sort_by, descending, self.direction)
        shown = ordered[: self.top_k]
        on_screen = {t.number for t in shown}
        running = [n for n in self.tracker.running if n not in on_screen]
        fidelity = self.fidelity()
        rows = [self._row(t, t is best_trial or t.number in front, fidelity) for t in shown]
        return Table(rows, len(trials), sort_by, running)

    def rows(self, sort_by: str = "value", descending: bool | None = None) -> list[Row]:
        """The rows on screen (see ``table``)."""
        return self.table(sort_by, descending).rows

    def failed(self) -> list[Trial]:
        """Failed trials, newest first (for the collapsed failures panel)."""
        if self.study is None:
            return []
        return [t for t in reversed(self.study.trials) if t.state is TrialState.FAILED]

    def failure_groups(self) -> list[tuple[str, list[int]]]:
        """Failed trials grouped by identical innermost cause, the most frequent first."""
        return failure_groups(self.study.trials) if self.study is not None else []

    def _row(self, t: Trial, is_best: bool, fidelity: list[str]) -> Row:
        state = "running" if t.number in self.tracker.running and t.state is TrialState.RUNNING else t.state.value
        shown = value_text(t)
        if self.multi_objective and t.values is not None:  # every objective, in the header's order
            shown = " · ".join(format_value(float(v)) for v in t.values)
        if t.state is TrialState.COMPLETE:
            note = ""
        elif t.state is TrialState.FAILED:
            note = failure_cause(t)
        else:
            note = t.error or ""
        infeasible = t.state is TrialState.COMPLETE and not t.feasible
        if infeasible:
            labels = self.study.constraints if self.study is not None else []
            note = "infeasible: " + violation_text(labels, t.violations)
        return Row(
            t.number,
            state,
            t.value,
            t.duration,
            dict(t.params),
            note,
            is_best,
            trial_output(t),
            shown,
            {c: fidelity_cell(t, c) for c in fidelity},
            not infeasible,
        )


#: The most of a trial's output the dashboard (and so the saved notebook) shows: the end, where errors are.
SHOWN_OUTPUT = 16 * 1024


def trial_output(t: Trial, limit: int = SHOWN_OUTPUT) -> str:
    """A trial's captured output and traceback, as one text: at most the last ``limit`` characters of each part,
    with a line saying how much was cut and where the whole of it is."""
    parts = []
    if t.stdout:
        parts.append(_tail(t.stdout.rstrip("\n"), limit, t.number, "stdout"))
    if t.stderr:
        parts.append("[stderr]\n" + _tail(t.stderr.rstrip("\n"), limit, t.number, "stderr"))
    if t.traceback:
        parts.append(t.traceback.rstrip("\n"))
    return "\n".join(parts)


def _tail(text: str, limit: int, number: int, stream: str) -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    note = f"[{cut:,} earlier characters not shown here: tune.study.trials[{number}].{stream} has them]"
    return note + "\n" + text[-limit:]


_STATE_COLOURS = {
    "complete": "#1a7f37",
    "failed": "#cf222e",
    "pruned": "#9a6700",
    "interrupted": "#6e7781",
    "running": "#0969da",
}


def rows_html(
    rows: list[Row],
    params: list[str],
    fidelity: list[str] | None = None,
    *,
    n_rows: int | None = None,
    more: str = "",
    value_label: str = "value",
) -> str:
    """The live table as HTML; every user string escaped.

    Columns: #, value, state, output, duration, the multi-fidelity columns, the parameters, the note. The objective
    and state come first so that they stay in view when many parameters make the table scroll sideways; parameter
    and note cells are cut to a width with the full text on hover. A row's captured output opens in a full-width row
    below it (a checkbox and CSS, no script). ``n_rows`` pads the table with placeholder rows so its height holds;
    ``more`` is the line under the rows (kept, empty, so the height holds too). ``value_label`` heads the value column
    (a multi-objective study's objectives).
    """
    esc = html.escape
    fidelity = fidelity or []
    n_cols = 5 + len(fidelity) + len(params) + 1
    head = "".join(f'<th class="hpmagic-fid">{esc(c)}</th>' for c in fidelity)
    head += "".join(f'<th class="hpmagic-param" title="{esc(p)}">{esc(p)}</th>' for p in params)
    body = []
    for r in rows:
        fid = "".join(f'<td class="hpmagic-fid">{esc(r.fidelity.get(c, ""))}</td>' for c in fidelity)
        cells = "".join(
            f'<td class="hpmagic-param{_align(r.params.get(p))}" title="{esc(str(r.params.get(p, "")))}">'
            f"{esc(format_value(r.params.get(p)))}</td>"
            for p in params
        )
        toggle = (
            '<label class="hpmagic-toggle" title="show the output and traceback">'
            '<input type="checkbox" class="hpmagic-toggle-box">output</label>'
            if r.output
            else ""
        )
        best = " hpmagic-best-row" if r.is_best else ""
        style = ' style="font-weight:bold"' if r.is_best else ""
        if not r.feasible:  # greyed inline, so the static copy (no stylesheet) shows it too
            best, style = " hpmagic-infeasible", ' style="color:#8c959f"'
        state = esc(r.state)
        colour = _STATE_COLOURS.get(r.state, "inherit")
        value = r.value_text or format_value(r.value)
        body.append(
            f'<tr class="hpmagic-row hpmagic-{state}{best}" data-state="{state}" data-number="{r.number}"{style}>'
            f'<td class="hpmagic-number">{r.number}</td><td class="hpmagic-value">{esc(value)}</td>'
            f'<td class="hpmagic-state" style="color:{colour}">{state}</td><td class="hpmagic-out">{toggle}</td>'
            f'<td class="hpmagic-duration">{format_duration(r.duration)}</td>{fid}{cells}'
            f'<td class="hpmagic-note" title="{esc(r.note)}">{esc(r.note)}</td></tr>'
        )
        if r.output:
            body.append(
                f'<tr class="hpmagic-output-row" data-output-of="{r.number}"><td colspan="{n_cols}">'
                f'<pre class="hpmagic-output">{esc(r.output)}</pre></td></tr>'
            )
    for _ in range(max((n_rows or 0) - len(rows), 0)):
        body.append(f'<tr class="hpmagic-placeholder"><td colspan="{n_cols}">&nbsp;</td></tr>')
    if n_rows is not None or more:
        body.append(f'<tr class="hpmagic-more"><td colspan="{n_cols}">{esc(more) or "&nbsp;"}</td></tr>')
    return (
        "<table class='hpmagic-trials'><thead><tr><th class='hpmagic-number'>#</th>"
        f"<th class='hpmagic-value'>{esc(value_label)}</th>"
        "<th class='hpmagic-state'>state</th><th class='hpmagic-out'></th><th class='hpmagic-duration'>duration</th>"
        f"{head}<th class='hpmagic-note'>note</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _align(value: Any) -> str:
    """Numbers line up on the right, words on the left."""
    return "" if isinstance(value, (int, float)) and not isinstance(value, bool) else " hpmagic-text"


def more_line(table: Table, sort_label: str) -> str:
    """The line under the table: how many trials are not shown and which are running off screen."""
    parts = []
    if table.more > 0:
        parts.append(f"… {table.more} more trials (sorted by {sort_label}; study.to_dataframe() has them all)")
    if table.running:
        parts.append("running: " + ", ".join(f"trial {n}" for n in table.running))
    return " · ".join(parts)
