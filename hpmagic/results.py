"""The results table of a study: best trials first, as HTML (every user string escaped) or as text.

Also the pieces every view of a study shares, so the dashboard, the static copy, the text table and
``Study.rows()`` say the same thing: the value with its spread over ``--repeats``, the multi-fidelity columns (budget,
rung or member, the trial a trial continues), the innermost cause of a failure, identical failures grouped, the word
for how a study ended, and a sort over every trial with ties listed oldest first.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpmagic.constraints import least_violating, total_violation, violation_text
from hpmagic.execution._run import ERROR_KEPT, clip
from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = [
    "FIDELITY_COLUMNS",
    "end_word",
    "failure_cause",
    "failure_groups",
    "fidelity_cell",
    "fidelity_columns",
    "format_duration",
    "format_value",
    "overfitting_note",
    "results_html",
    "results_text",
    "sort_trials",
    "trial_rows",
    "value_text",
]

_STATE_COLOURS = {
    TrialState.COMPLETE: "#1a7f37",
    TrialState.FAILED: "#cf222e",
    TrialState.PRUNED: "#9a6700",
    TrialState.INTERRUPTED: "#6e7781",
    TrialState.RUNNING: "#0969da",
}

#: How a study ended (``StudyFinished.reason``), in the words its status line uses.
_END_WORDS = {
    "budget": "finished",
    "exhausted": "finished",
    "timeout": "timed out",
    "stopped": "stopped",
    "interrupted": "interrupted",
    "failures": "stopped: too many failures in a row",
    "error": "failed",
}

#: Multi-fidelity columns: (column name, the ``user_attrs`` keys it shows). "budget" is what ``--budget`` counts
#: (epochs, iterations) that the trial was granted; the whole study's size is counted in "trials".
FIDELITY_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("budget", ("budget",)),
    ("rung", ("bracket", "rung")),
    ("member", ("member", "round")),
    ("continues", ("continues",)),
    ("worker", ("worker",)),
)


def format_value(value: Any) -> str:
    """Compact, readable text for a parameter or objective value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, type):
        return value.__name__
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float | None) -> str:
    """``12 ms`` or ``3.4 s``; empty while unknown."""
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def value_text(trial: Trial) -> str:
    """The trial's value, with ``± std`` over its repeats when it has several (``--repeats``)."""
    text = format_value(trial.value)
    std = trial.user_attrs.get("value_std") if trial.value is not None else None
    if isinstance(std, (int, float)) and len(trial.user_attrs.get("values") or ()) > 1:
        text += f" ± {std:.2g}"
    return text


def end_word(reason: str | None) -> str:
    """What a study's status line says for the reason it ended ("timed out", not "finished", for ``--timeout``)."""
    if reason is None:
        return ""
    return _END_WORDS.get(str(reason), str(reason))


def fidelity_columns(trials: Sequence[Trial]) -> list[str]:
    """The multi-fidelity columns that at least one trial has a value for, in a fixed order."""
    return [name for name, keys in FIDELITY_COLUMNS if any(k in t.user_attrs for t in trials for k in keys)]


def fidelity_cell(trial: Trial, column: str) -> str:
    """One multi-fidelity cell: ``27`` (budget), ``1/2`` (bracket/rung), ``3/5`` (member/round), ``#12`` (continues)."""
    attrs = trial.user_attrs
    if column == "budget":
        budget, start = attrs.get("budget"), attrs.get("start")
        if budget is None:
            return ""
        return f"{start}..{budget}" if start else str(budget)
    if column == "rung":
        bracket, rung = attrs.get("bracket"), attrs.get("rung")
        if rung is None:
            return "" if bracket is None else f"b{bracket}"
        return f"b{bracket} r{rung}" if bracket is not None else f"r{rung}"
    if column == "member":
        member, rnd = attrs.get("member"), attrs.get("round")
        if member is None:
            return ""
        return f"m{member} r{rnd}" if rnd is not None else f"m{member}"
    if column == "continues":
        source = attrs.get("continues")
        return "" if source is None else f"#{source}"
    if column == "worker":  # the Dask worker that runs (ran) the trial, without the protocol
        return str(attrs.get("worker") or "").split("://")[-1]
    raise KeyError(column)


# -- failures ----------------------------------------------------------------------------------------------------------

_TRACEBACK_HEADER = "Traceback (most recent call last):"
_CHAIN = re.compile(
    r"^(?:The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)\s*$",
    re.MULTILINE,
)
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


def _exception_line(chunk: str) -> str | None:
    """The ``Type: message`` line that ends one traceback's frames (its first unindented line)."""
    lines = chunk.splitlines()
    for i, line in enumerate(lines):
        if not line.strip() or line[0].isspace():
            continue
        match = _EXCEPTION_LINE.match(line.rstrip())
        if match is None:
            return None
        kind, message = match.group(1), (match.group(2) or "").strip()
        if not message:  # "ValueError: " with the message on the next lines, as scikit-learn writes it
            message = next((rest.strip() for rest in lines[i + 1 :] if rest.strip()), "")
        return f"{kind}: {message}" if message else kind
    return None


def failure_cause(trial: Trial) -> str:
    """The innermost cause of a trial's failure, in one line.

    An exception raised ``from`` another is listed after its cause in the traceback, so the chain's first exception
    is the root; an exception whose message carries other tracebacks (scikit-learn's "All the 5 fits failed", which
    quotes the fits' own errors) is explained by the last one it quotes. Without a traceback, the trial's error.
    """
    error = trial.error or ""
    text = trial.traceback or ""
    if _TRACEBACK_HEADER not in text:
        return error
    root = _CHAIN.split(text)[0]
    chunks = root.split(_TRACEBACK_HEADER)[1:]
    for chunk in reversed(chunks):
        line = _exception_line(chunk)
        if line is not None:
            # A message of megabytes is cut as the trial's own error is: the cause is one line of a summary.
            return clip(line, ERROR_KEPT)
    return error


def failure_groups(trials: Sequence[Trial]) -> list[tuple[str, list[int]]]:
    """Failed trials grouped by identical cause: ``(cause, trial numbers)``, the most frequent first."""
    groups: dict[str, list[int]] = {}
    for t in trials:
        if t.state is TrialState.FAILED:
            groups.setdefault(failure_cause(t) or "failed", []).append(t.number)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0]))


def _note(trial: Trial, constraints: Sequence[str] = ()) -> str:
    """Why a trial did not complete, in a few words (the innermost cause of a failure), or which constraints a
    complete trial violates."""
    if trial.state is TrialState.COMPLETE:
        if trial.feasible:
            return ""
        text = "infeasible: " + violation_text(constraints, trial.violations)
        return text if len(text) <= 60 else text[:57] + "..."
    text = failure_cause(trial) if trial.state is TrialState.FAILED else (trial.error or "")
    return text if len(text) <= 60 else text[:57] + "..."


def _duration(trial: Trial) -> str:
    return format_duration(trial.duration)


# -- sorting and rows --------------------------------------------------------------------------------------------------


def _sort_key(trial: Trial, column: str, running: Trial | None = None) -> Any:
    if column == "value":
        return trial.value if trial.state is TrialState.COMPLETE else None
    if column == "#":
        return trial.number
    if column == "duration":
        return trial.duration
    if column == "state":
        return "running" if trial is running else trial.state.value
    if column in dict(FIDELITY_COLUMNS):
        keys = dict(FIDELITY_COLUMNS)[column]
        values = tuple(trial.user_attrs.get(k) for k in keys)
        return None if all(v is None for v in values) else values
    return trial.params.get(column)


def sort_trials(
    trials: Sequence[Trial], column: str = "value", descending: bool | None = None, direction: str = "minimize"
) -> list[Trial]:
    """Every trial sorted by a column (value: best first unless ``descending`` says otherwise).

    Ties are listed oldest first in either order, so the best trial (the earliest of equal values) comes first;
    trials without that column (running, failed) go last, newest first. By value, the trials that violate a
    constraint come after the feasible ones (a better-looking value of an infeasible trial is not a candidate).
    """
    if descending is None:
        descending = column == "value" and direction == "maximize"
    keyed = [(_sort_key(t, column), t) for t in trials]
    present = [(k, t) for k, t in keyed if k is not None]
    missing = sorted((t for k, t in keyed if k is None), key=lambda t: -t.number)
    numeric = all(isinstance(k, (int, float)) and not isinstance(k, bool) for k, _ in present)
    present.sort(key=lambda p: p[1].number)  # oldest first among ties: the sort below is stable, even reversed
    present.sort(key=lambda p: p[0] if numeric else str(p[0]), reverse=descending)
    if column == "value":
        present.sort(key=lambda p: not p[1].feasible)  # stable: each part keeps its order by value
    return [t for _, t in present] + missing


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """One flat dict per trial (by number), what ``Study.rows()`` and ``to_dataframe()`` give.

    Columns: number, state, value, then ``value_std`` and ``repeats`` when the study ran ``--repeats``, duration,
    error (the innermost cause for failures), the held-out ``test`` value if any, the multi-fidelity columns
    (budget, bracket, rung, member, round, continues) that the study has, then each parameter (prefixed with
    ``param_`` where its name would clash). A study with constraints adds, after ``value``, ``feasible`` (None
    for trials that did not complete) and ``violation`` (the sum of the amounts by which the trial misses its
    constraints, 0 when it meets them all). A multi-objective study adds, after ``value`` (the primary
    objective's), one column per objective named after it (``objective_NAME`` where the name would clash),
    ``pareto_rank`` (0 on the Pareto front, 1 behind it, ...) and ``pareto_front``.
    """
    from hpmagic.study import known_params

    trials = study.trials
    fixed = ["number", "state", "value"]
    objectives = _objective_columns(study)
    ranks = study.pareto_ranks() if objectives else {}
    fixed += [*objectives, *(["pareto_rank", "pareto_front"] if objectives else [])]
    constrained = bool(getattr(study, "constraints", None))
    if constrained:
        fixed += ["feasible", "violation"]
    with_repeats = any(len(t.user_attrs.get("values") or ()) > 1 for t in trials)
    if with_repeats:
        fixed += ["value_std", "repeats"]
    fixed += ["duration", "error"]
    if any("test" in t.user_attrs for t in trials):
        fixed.append("test")
    fidelity = [k for _, keys in FIDELITY_COLUMNS for k in keys if any(k in t.user_attrs for t in trials)]
    fixed += fidelity
    out = []
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.value,
            "value": t.value,
        }
        for i, column in enumerate(objectives):
            row[column] = t.values[i] if t.values is not None and i < len(t.values) else None
        if objectives:
            row["pareto_rank"] = ranks.get(t.number)
            row["pareto_front"] = ranks.get(t.number) == 0
        if constrained:
            known = t.state is TrialState.COMPLETE and t.violations is not None
            row["feasible"] = t.feasible if known else None
            row["violation"] = total_violation(t.violations) if known else None
        if with_repeats:
            values = t.user_attrs.get("values") or ()
            row["value_std"] = t.user_attrs.get("value_std")
            row["repeats"] = len(values) if values else None
        row["duration"] = t.duration
        row["error"] = failure_cause(t) if t.state is TrialState.FAILED else t.error
        if "test" in fixed:
            row["test"] = t.user_attrs.get("test")
        for key in fidelity:
            row[key] = t.user_attrs.get(key)
        for n in known_params(trials):
            row[f"param_{n}" if n in fixed else n] = t.params.get(n)
        out.append(row)
    return out


# -- the held-out check ----------------------------------------------------------------------------------------------


def _mattered(study: Study) -> str | None:
    """The sentence naming the parameters that mattered most, once the study has ended (a forest fit per redraw
    of a live table would cost more than the table)."""
    if getattr(study, "running", False):
        return None
    from hpmagic.fanova import top_parameters

    # The HTML and the text of one finished study are often made together (the static copy): fit once.
    key = (len(study.trials), sum(t.state is TrialState.COMPLETE for t in study.trials))
    cached = getattr(study, "_mattered", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    text = top_parameters(study)
    with contextlib.suppress(AttributeError):
        study._mattered = (key, text)  # type: ignore[attr-defined]
    return text


def _objective_columns(study: Study) -> list[str]:
    """A multi-objective study's value columns, named after its objectives ([] for a single objective)."""
    if not getattr(study, "is_multi_objective", False):
        return []
    taken = {"number", "state", "value", "value_std", "repeats", "duration", "error", "test"}
    taken |= {"pareto_rank", "pareto_front"} | {k for _, keys in FIDELITY_COLUMNS for k in keys}
    return [f"objective_{n}" if n in taken else n for n in study.objective_names]


def _value_cells(study: Study, trial: Trial, ranks: dict[int, int]) -> list[str]:
    """The value cells of a table row: the value, or each objective's value and the trial's front (1: the Pareto
    front) in a multi-objective study."""
    if not getattr(study, "is_multi_objective", False):
        return [value_text(trial)]
    values = trial.values or []
    cells = [format_value(values[i]) if i < len(values) else "" for i in range(len(study.objective_names))]
    rank = ranks.get(trial.number)
    return [*cells, "" if rank is None else str(rank + 1)]


def objective_labels(study: Study) -> list[str]:
    """Each objective's name with its direction's arrow ("accuracy ↑"); ["maximize ↑"] for a single objective."""
    if not getattr(study, "is_multi_objective", False):
        return ["maximize ↑" if str(study.direction) == "maximize" else "minimize ↓"]
    arrows = zip(study.objective_names, study.directions, strict=True)
    return [f"{n} {'↑' if str(d) == 'maximize' else '↓'}" for n, d in arrows]


def _value_headers(study: Study) -> list[str]:
    if not getattr(study, "is_multi_objective", False):
        return ["value"]
    return [*objective_labels(study), "front"]


def _single_best(study: Study) -> Trial | None:
    """The best trial; None for a multi-objective study, which has a front of them instead (``_front``)."""
    return None if getattr(study, "is_multi_objective", False) else study.best_trial


def _front(study: Study) -> list[Trial]:
    """A multi-objective study's Pareto set ([] for a single-objective study)."""
    if not getattr(study, "is_multi_objective", False):
        return []
    from hpmagic.pareto import pareto_trials

    return pareto_trials(study.trials, study.directions)


def overfitting_note(study: Study) -> tuple[str, bool] | None:
    """The best trial's validation and held-out test values side by side, and whether the gap looks too large.

    The gap is compared with the spread (standard deviation) of the validation values over the study: a gap well
    beyond what picking among noisy trials explains suggests the search has overfitted the validation set.
    """
    best = _single_best(study)
    if best is None or "test" not in best.user_attrs or best.value is None:
        return None
    test = float(best.user_attrs["test"])
    values = [t.value for t in study.trials if t.state is TrialState.COMPLETE and t.value is not None]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    gap = best.value - test
    optimistic = gap > 0 if study.direction == "maximize" else gap < 0
    warn = optimistic and abs(gap) > 2 * spread and abs(gap) > 1e-12
    text = (
        f"best trial {best.number}: validation {format_value(best.value)}, held-out test {format_value(test)}, "
        f"gap {gap:+.4g} (spread of validation values {spread:.3g})"
    )
    if warn:
        text += ": the gap is large against that spread, the search may have overfitted the validation set"
    return text, warn


# -- the table ---------------------------------------------------------------------------------------------------------


def _header(study: Study) -> tuple[str, str]:
    n = len(study.trials)
    done = sum(1 for t in study.trials if t.state is TrialState.COMPLETE)
    failed = sum(1 for t in study.trials if t.state is TrialState.FAILED)
    title = f"Study {study.name} · {study.strategy_name} · {', '.join(objective_labels(study))}"
    resource = getattr(study, "resource", None)
    if resource:
        title += f" · budget {resource[0]}..{resource[1]} per trial"
    best = _single_best(study)
    detail = f"{done} complete of {n} trials"
    if failed:
        detail += f" ({failed} failed)"
    constraints = list(getattr(study, "constraints", None) or [])
    if best is not None:
        detail += f" · best {'feasible ' if constraints else ''}value {value_text(best)} (trial {best.number})"
    if constraints:
        infeasible = sum(1 for t in study.trials if t.state is TrialState.COMPLETE and not t.feasible)
        detail += f" · {infeasible} infeasible"
        least = least_violating(study.trials)
        if least is not None and not getattr(study, "is_multi_objective", False):
            detail += f" · no feasible trial yet (least violation: trial {least.number})"
    front = _front(study)
    if front:
        numbers = _numbers([t.number for t in front])
        detail += f" · Pareto front: {len(front)} trial{'s' if len(front) > 1 else ''} ({numbers})"
    if study.last_finish is not None and str(study.last_finish.reason) not in ("budget", "exhausted"):
        detail += f" · {end_word(study.last_finish.reason)}"
    return title, detail


def _columns(study: Study) -> list[str]:
    from hpmagic.study import known_params

    return known_params(study.trials)


def _failures_html(study: Study) -> str:
    groups = failure_groups(study.trials)
    if not groups:
        return ""
    esc = html.escape
    items = "".join(
        f"<li>{len(numbers)} trial{'s' if len(numbers) > 1 else ''} ({esc(_numbers(numbers))}): {esc(cause)}</li>"
        for cause, numbers in groups[:10]
    )
    return f"<div class='hpmagic-failure-groups'>failures:<ul style='margin:0'>{items}</ul></div>"


def _numbers(numbers: list[int], limit: int = 8) -> str:
    """``#3, #5, #9`` (and ``…`` past ``limit``)."""
    shown = ", ".join(f"#{n}" for n in numbers[:limit])
    return shown + (", …" if len(numbers) > limit else "")


def results_html(study: Study, limit: int = 20) -> str:
    """An HTML table of the best ``limit`` trials (then a count of the rest), wide tables scrolling sideways."""
    title, detail = _header(study)
    params = _columns(study)
    fidelity = fidelity_columns(study.trials)
    trials = study.sorted_trials()
    shown = trials[:limit]
    esc = html.escape
    head = "".join(f"<th>{esc(p)}</th>" for p in [*fidelity, *params])
    value_head = "".join(f"<th>{esc(h)}</th>" for h in _value_headers(study))
    ranks = study.pareto_ranks() if getattr(study, "is_multi_objective", False) else {}
    body = []
    best = _single_best(study)
    front = {t.number for t in _front(study)}
    constraints = list(getattr(study, "constraints", None) or [])
    for t in shown:
        style = ' style="font-weight:bold"' if t is best or t.number in front else ""
        if t.state is TrialState.COMPLETE and not t.feasible:
            # Infeasible: greyed (its note says which constraint it misses), so a better-looking value is not read
            # as a candidate.
            style = ' class="hpmagic-infeasible" style="color:#8c959f"'
        state = (
            f'<span style="color:{_STATE_COLOURS.get(t.state, "#000")}" title="{esc(t.error or "")}">'
            f"{esc(t.state.value)}</span>"
        )
        cells = "".join(f"<td>{esc(fidelity_cell(t, c))}</td>" for c in fidelity)
        cells += "".join(
            f'<td title="{esc(str(t.params.get(p, "")))}">{esc(format_value(t.params.get(p)))}</td>' for p in params
        )
        values = "".join(f"<td>{esc(c)}</td>" for c in _value_cells(study, t, ranks))
        body.append(
            f"<tr{style}><td>{t.number}</td>{cells}{values}"
            f"<td>{_duration(t)}</td><td>{state}</td><td>{esc(_note(t, constraints))}</td></tr>"
        )
    n_columns = len(params) + len(fidelity) + 4 + len(_value_headers(study))
    more = (
        f'<tr><td colspan="{n_columns}">… {len(trials) - limit} more trials (study.to_dataframe())</td></tr>'
        if len(trials) > limit
        else ""
    )
    message = ""
    for text in getattr(study, "notes", []):
        message += f"<div class='hpmagic-note'><i>{esc(text)}</i></div>"
    mattered = _mattered(study)
    if mattered is not None:
        message += f"<div class='hpmagic-importance'>{esc(mattered)}</div>"
    note = overfitting_note(study)
    if note is not None:
        colour = "#cf222e" if note[1] else "inherit"
        message += f"<div class='hpmagic-test-gap' style='color:{colour}'>{esc(note[0])}</div>"
    message += _failures_html(study)
    if study.last_finish is not None and str(study.last_finish.reason) == "failures":
        message += f"<pre style='color:#cf222e;white-space:pre-wrap'>{esc(study.last_finish.message)}</pre>"
    return (
        f'<div class="hpmagic-results" style="max-width:100%;overflow-x:auto"><b>{esc(title)}</b><br>'
        f"<span>{esc(detail)}</span>{message}"
        f"<table><thead><tr><th>#</th>{head}{value_head}<th>duration</th><th>state</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(body)}{more}</tbody></table></div>"
    )


def results_text(study: Study, limit: int = 20) -> str:
    """The same table as plain text, for terminals and logs."""
    title, detail = _header(study)
    params = _columns(study)
    fidelity = fidelity_columns(study.trials)
    header = ["#", *fidelity, *params, *_value_headers(study), "duration", "state", "note"]
    ranks = study.pareto_ranks() if getattr(study, "is_multi_objective", False) else {}
    rows = [
        [
            str(t.number),
            *(fidelity_cell(t, c) for c in fidelity),
            *(format_value(t.params.get(p)) for p in params),
            *_value_cells(study, t, ranks),
            _duration(t),
            t.state.value if t.feasible else f"{t.state.value} ✗",
            _note(t, study.constraints if getattr(study, "constraints", None) else ()),
        ]
        for t in study.sorted_trials()[:limit]
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [title, detail, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if len(study.trials) > limit:
        lines.append(f"... {len(study.trials) - limit} more trials (study.to_dataframe())")
    lines.extend(f"note: {text}" for text in getattr(study, "notes", []))
    mattered = _mattered(study)
    if mattered is not None:
        lines.append(mattered)
    note = overfitting_note(study)
    if note is not None:
        lines.append(("WARNING " if note[1] else "") + note[0])
    for cause, numbers in failure_groups(study.trials)[:10]:
        lines.append(f"failed: {len(numbers)} trial{'s' if len(numbers) > 1 else ''} ({_numbers(numbers)}): {cause}")
    if study.last_finish is not None and str(study.last_finish.reason) == "failures":
        lines.append(study.last_finish.message)
    return "\n".join(lines)
