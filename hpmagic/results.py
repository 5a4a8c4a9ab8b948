"""The results table of a study: best trials first, as HTML (every user string escaped) or as text."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from hpmagic.trial import Trial, TrialState

if TYPE_CHECKING:
    from hpmagic.study import Study

__all__ = ["format_duration", "format_value", "overfitting_note", "results_html", "results_text"]

_STATE_COLOURS = {
    TrialState.COMPLETE: "#1a7f37",
    TrialState.FAILED: "#cf222e",
    TrialState.PRUNED: "#9a6700",
    TrialState.INTERRUPTED: "#6e7781",
    TrialState.RUNNING: "#0969da",
}


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


def _duration(trial: Trial) -> str:
    return format_duration(trial.duration)


def _note(trial: Trial) -> str:
    """Why a trial did not complete, in a few words."""
    if trial.state is TrialState.COMPLETE or not trial.error:
        return ""
    return trial.error if len(trial.error) <= 60 else trial.error[:57] + "..."


def overfitting_note(study: Study) -> tuple[str, bool] | None:
    """The best trial's validation and held-out test values side by side, and whether the gap looks too large.

    The gap is compared with the spread (standard deviation) of the validation values over the study: a gap well
    beyond what picking among noisy trials explains suggests the search has overfitted the validation set.
    """
    best = study.best_trial
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


def _header(study: Study) -> tuple[str, str]:
    n = len(study.trials)
    done = sum(1 for t in study.trials if t.state is TrialState.COMPLETE)
    arrow = "maximize ↑" if study.direction == "maximize" else "minimize ↓"
    title = f"Study {study.name} · {study.strategy_name} · {arrow}"
    best = study.best_trial
    detail = f"{done} complete of {n} trials"
    if best is not None:
        detail += f" · best value {format_value(best.value)} (trial {best.number})"
    if study.last_finish is not None and study.last_finish.reason not in ("budget", "exhausted"):
        detail += f" · {study.last_finish.reason}"
    return title, detail


def _columns(study: Study) -> list[str]:
    from hpmagic.study import known_params

    return known_params(study.trials)


def results_html(study: Study, limit: int = 20) -> str:
    """An HTML table of the best ``limit`` trials (then a count of the rest)."""
    title, detail = _header(study)
    params = _columns(study)
    trials = study.sorted_trials()
    shown = trials[:limit]
    esc = html.escape
    head = "".join(f"<th>{esc(p)}</th>" for p in params)
    body = []
    best = study.best_trial
    for t in shown:
        style = ' style="font-weight:bold"' if t is best else ""
        state = (
            f'<span style="color:{_STATE_COLOURS.get(t.state, "#000")}" title="{esc(t.error or "")}">'
            f"{esc(t.state.value)}</span>"
        )
        cells = "".join(f"<td>{esc(format_value(t.params.get(p)))}</td>" for p in params)
        body.append(
            f"<tr{style}><td>{t.number}</td>{cells}<td>{esc(format_value(t.value))}</td>"
            f"<td>{_duration(t)}</td><td>{state}</td><td>{esc(_note(t))}</td></tr>"
        )
    more = (
        f'<tr><td colspan="{len(params) + 5}">… {len(trials) - limit} more trials (study.to_dataframe())</td></tr>'
        if len(trials) > limit
        else ""
    )
    message = ""
    for text in getattr(study, "notes", []):
        message += f"<div class='hpmagic-note'><i>{esc(text)}</i></div>"
    note = overfitting_note(study)
    if note is not None:
        colour = "#cf222e" if note[1] else "inherit"
        message += f"<div class='hpmagic-test-gap' style='color:{colour}'>{esc(note[0])}</div>"
    if study.last_finish is not None and study.last_finish.reason == "failures":
        message += f"<pre style='color:#cf222e;white-space:pre-wrap'>{esc(study.last_finish.message)}</pre>"
    return (
        f'<div class="hpmagic-results"><b>{esc(title)}</b><br><span>{esc(detail)}</span>{message}'
        f"<table><thead><tr><th>#</th>{head}<th>value</th><th>duration</th><th>state</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(body)}{more}</tbody></table></div>"
    )


def results_text(study: Study, limit: int = 20) -> str:
    """The same table as plain text, for terminals and logs."""
    title, detail = _header(study)
    params = _columns(study)
    header = ["#", *params, "value", "duration", "state", "note"]
    rows = [
        [
            str(t.number),
            *(format_value(t.params.get(p)) for p in params),
            format_value(t.value),
            _duration(t),
            t.state.value,
            _note(t),
        ]
        for t in study.sorted_trials()[:limit]
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [title, detail, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if len(study.trials) > limit:
        lines.append(f"... {len(study.trials) - limit} more trials (study.to_dataframe())")
    lines.extend(f"note: {text}" for text in getattr(study, "notes", []))
    note = overfitting_note(study)
    if note is not None:
        lines.append(("WARNING " if note[1] else "") + note[0])
    if study.last_finish is not None and study.last_finish.reason == "failures":
        lines.append(study.last_finish.message)
    return "\n".join(lines)
