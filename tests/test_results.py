"""The results table: HTML that escapes every user string, text with aligned columns, best trials first."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from hpmagic.context import TrialContext
from hpmagic.results import (
    end_word,
    failure_cause,
    failure_groups,
    fidelity_cell,
    fidelity_columns,
    format_value,
    results_html,
    results_text,
    sort_trials,
    trial_rows,
    value_text,
)
from hpmagic.space import Categorical, Float, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import Study, create_study
from hpmagic.trial import Trial, TrialState

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
NAME = 'x<b>y</b>&"z"'
PARAM = "<u>p</u>"
ALLOWED_TAGS = {"div", "b", "br", "span", "table", "thead", "tbody", "tr", "th", "td", "pre", "i", "ul", "li"}


def hostile_study(**kw: Any) -> Study:
    """Four grid trials whose choice, study name, parameter name and error text are all HTML."""
    space = Space({"kind": Categorical((SCRIPT, "ok")), PARAM: Float(0.0, 1.0)})

    def objective(ctx: TrialContext) -> float:
        params = ctx.use_all()
        kind, p = params["kind"], params[PARAM]
        if kind == "ok" and p == 0.0:
            raise ValueError(IMG)
        return p if kind == SCRIPT else 3.0

    study = create_study(space=space, name=NAME, seed=0, **kw)
    study.optimize(objective, get_strategy("grid", points=2), n_trials=None)
    return study


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body or tag == "th":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            (self.rows[-1] if tag == "td" else self.header).append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_html_escapes_every_user_string() -> None:
    study = hostile_study()
    assert {t.state for t in study.trials} == {TrialState.COMPLETE, TrialState.FAILED}
    html = results_html(study)
    assert SCRIPT not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "x<b>y" not in html and "x&lt;b&gt;y&lt;/b&gt;&amp;&quot;z&quot;" in html
    assert PARAM not in html and "&lt;u&gt;p&lt;/u&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # the error, in a title=
    parsed = parse(html)
    assert set(parsed.tags) <= ALLOWED_TAGS  # no element came from user text
    # The parsed text gives the user's strings back exactly.
    cells = [cell for row in parsed.rows for cell in row]
    assert SCRIPT in cells


def test_html_shows_best_first_and_bold() -> None:
    study = hostile_study()
    html = results_html(study)
    parsed = parse(html)
    assert parsed.header[:4] == ["#", "kind", PARAM, "value"]
    col = {name: i for i, name in enumerate(parsed.header)}
    rows = parsed.rows
    numbers = [int(r[0]) for r in rows]
    assert numbers == [t.number for t in study.sorted_trials()]
    assert study.best_trial is not None and numbers[0] == study.best_trial.number
    assert rows[0][col["state"]] == "complete" and rows[-1][col["state"]] == "failed"
    assert rows[-1][col["kind"]] == "ok"
    values = [float(r[col["value"]]) for r in rows if r[col["state"]] == "complete"]
    assert values == sorted(values) == [0.0, 1.0, 3.0]
    first_row = re.search(r"<tbody><tr([^>]*)>", html)
    assert first_row is not None and "font-weight:bold" in first_row.group(1)
    assert html.count("font-weight:bold") == 1


def test_html_state_colours() -> None:
    html = results_html(hostile_study())
    colours = dict(
        (state, colour) for colour, state in re.findall(r'<span style="color:(#\w+)"[^>]*>(\w+)</span>', html)
    )
    assert set(colours) == {"complete", "failed"}
    assert colours["complete"] == "#1a7f37" and colours["failed"] == "#cf222e"


def test_html_limit_and_failure_message() -> None:
    study = hostile_study()
    html = results_html(study, limit=2)
    assert len(parse(html).rows) == 3  # two trials and the "more" line
    assert "2 more trials" in html

    def always_fails(ctx: TrialContext) -> float:
        raise RuntimeError(SCRIPT)

    failing = create_study(space=Space({"x": Float(0.0, 1.0)}), name="f", seed=0)
    failing.optimize(always_fails, get_strategy("random"), n_trials=10, max_failures=2)
    html = results_html(failing)
    assert "failed trials in a row" in html and "<pre" in html
    assert SCRIPT not in html and "always_fails" in html


def test_html_of_an_empty_study() -> None:
    study = create_study(space=Space({"x": Float(0.0, 1.0)}), name="empty", seed=0)
    html = results_html(study)
    assert "0 complete of 0 trials" in html and parse(html).rows == []


def column_starts(header: str) -> list[int]:
    """Where each column of a text table starts (names hold no double space)."""
    return [0] + [m.end() for m in re.finditer(r"  +(?=\S)", header)]


def test_text_columns_are_aligned() -> None:
    study = hostile_study()
    text = results_text(study)
    lines = text.splitlines()
    assert lines[0] == f"Study {NAME} · grid · minimize ↓"
    best = study.best_trial
    assert best is not None
    assert lines[1] == f"3 complete of 4 trials (1 failed) · best value 0 (trial {best.number})"
    starts = column_starts(lines[2])
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [lines[2][a:b].strip() for a, b in bounds]
    assert names[:6] == ["#", "kind", PARAM, "value", "duration", "state"]
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert lines[-1] == f"failed: 1 trial (#{failed[0].number}): ValueError: {IMG}"
    rows = lines[3:-1]
    trials = study.sorted_trials()
    assert len(rows) == len(trials)
    for line, trial in zip(rows, trials, strict=True):
        cells = dict(zip(names, (line[a:b].strip() for a, b in bounds), strict=True))
        assert cells["#"] == str(trial.number)
        assert cells["kind"] == format_value(trial.params["kind"])
        assert cells[PARAM] == format_value(trial.params[PARAM])
        assert cells["value"] == format_value(trial.value)
        assert re.fullmatch(r"\d+ ms|\d+\.\d s", cells["duration"])
        assert cells["state"] == trial.state.value
        for start in starts[1:]:
            if start < len(line):
                assert line[start - 2 : start] == "  "  # two spaces before every column


def test_text_limit_and_maximize_header() -> None:
    study = create_study(space=Space({"x": Float(0.0, 1.0)}), name="m", direction="maximize", seed=0)
    study.optimize(lambda ctx: ctx.use_all()["x"], get_strategy("random"), n_trials=25)
    text = results_text(study, limit=20)
    lines = text.splitlines()
    assert "maximize ↑" in lines[0]
    assert lines[-1] == "... 5 more trials (study.to_dataframe())"
    assert len(lines) == 3 + 20 + 1
    shown = [float(line.split()[2]) for line in lines[3:23]]
    assert shown == sorted(shown, reverse=True)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (0.123456789, "0.123457"),
        (1e-9, "1e-09"),
        (3, "3"),
        (True, "True"),
        ("abc", "abc"),
        (int, "int"),
        ((1, 2), "(1, 2)"),
        ("z" * 60, "z" * 37 + "..."),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text


SKLEARN_TRACEBACK = """\
Traceback (most recent call last):
  File "<cell>", line 5, in <module>
    search.fit(X, y)
ValueError:
All the 5 fits failed.
It is very likely that your model is misconfigured.
You can try to debug the error by setting error_score='raise'.

Below are more details about the failures:
--------------------------------------------------------------------------------
5 fits failed with the following error:
Traceback (most recent call last):
  File "sklearn/model_selection/_validation.py", line 866, in _fit_and_score
    estimator.fit(X_train, y_train, **fit_params)
ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty.
"""

CHAINED_TRACEBACK = """\
Traceback (most recent call last):
  File "<cell>", line 3, in <module>
    load(path)
FileNotFoundError: [Errno 2] No such file or directory: 'data.csv'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "<cell>", line 5, in <module>
    raise RuntimeError("could not prepare the data") from exc
RuntimeError: could not prepare the data
"""


def _failed(number: int, error: str, traceback: str | None = None) -> Trial:
    return Trial(
        number=number, state=TrialState.FAILED, error=error, traceback=traceback, started_at=0.0, finished_at=1.0
    )


def test_failure_cause_is_the_innermost_error() -> None:
    wrapped = _failed(0, "ValueError: All the 5 fits failed.", SKLEARN_TRACEBACK)
    assert failure_cause(wrapped) == ("ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty.")
    chained = _failed(1, "RuntimeError: could not prepare the data", CHAINED_TRACEBACK)
    assert failure_cause(chained) == "FileNotFoundError: [Errno 2] No such file or directory: 'data.csv'"
    plain = _failed(2, "KeyError: 'x'", "Traceback (most recent call last):\n  File ...\nKeyError: 'x'\n")
    assert failure_cause(plain) == "KeyError: 'x'"
    assert failure_cause(_failed(3, "objective is None")) == "objective is None"


def test_identical_failures_are_grouped_most_frequent_first() -> None:
    trials = [_failed(n, "ValueError: All the 5 fits failed.", SKLEARN_TRACEBACK) for n in (1, 4, 6)]
    trials += [_failed(2, "RuntimeError: x", CHAINED_TRACEBACK), Trial(number=3, state=TrialState.COMPLETE, value=1.0)]
    groups = failure_groups(trials)
    assert groups == [
        ("ValueError: Solver lbfgs supports only 'l2' or None penalties, got l1 penalty.", [1, 4, 6]),
        ("FileNotFoundError: [Errno 2] No such file or directory: 'data.csv'", [2]),
    ]


def test_end_words_read_right() -> None:
    assert end_word("timeout") == "timed out"
    assert end_word("budget") == end_word("exhausted") == "finished"
    assert end_word("stopped") == "stopped" and end_word(None) == ""


def test_sort_trials_covers_every_trial_with_ties_oldest_first() -> None:
    def done(n: int, value: float, seconds: float) -> Trial:
        return Trial(number=n, state=TrialState.COMPLETE, value=value, started_at=0.0, finished_at=seconds)

    trials = [done(0, 2.0, 0.5), done(1, 1.0, 0.481), done(2, 1.0, 0.3), done(3, 3.0, 0.023), _failed(4, "E: x")]
    assert [t.number for t in sort_trials(trials)] == [1, 2, 0, 3, 4]
    assert [t.number for t in sort_trials(trials, "value", True)] == [3, 0, 1, 2, 4]
    assert [t.number for t in sort_trials(trials, direction="maximize")] == [3, 0, 1, 2, 4]
    assert sort_trials(trials, "duration")[0].number == 3  # the 23 ms trial, wherever it ranks by value


def test_repeats_and_multi_fidelity_columns_in_every_view() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    study = create_study(space=space, name="mf", seed=0)
    study.resource = (1, 9)
    attrs = [
        {"values": [0.5, 0.7], "value_std": 0.1414, "budget": 3, "bracket": 1, "rung": 0},
        {"values": [0.2, 0.4], "value_std": 0.1414, "budget": 9, "start": 3, "bracket": 1, "rung": 1, "continues": 0},
    ]
    for n, a in enumerate(attrs):
        trial = Trial(number=n, params={"x": 0.1 * n}, state=TrialState.COMPLETE, value=0.6 - 0.3 * n)
        trial.user_attrs.update(a)
        trial.finished_at = trial.started_at + 1
        study.trials.append(trial)
        study._update_best(trial)
    assert value_text(study.trials[1]) == "0.3 ± 0.14"
    assert fidelity_columns(study.trials) == ["budget", "rung", "continues"]
    assert [fidelity_cell(study.trials[1], c) for c in ("budget", "rung", "continues")] == ["3..9", "b1 r1", "#0"]
    text = results_text(study)
    assert "0.3 ± 0.14" in text and "budget 1..9 per trial" in text.splitlines()[0]
    header = parse(results_html(study)).header
    assert header[:4] == ["#", "budget", "rung", "continues"]
    rows = trial_rows(study)
    assert rows[1]["value"] == pytest.approx(0.3) and rows[1]["value_std"] == pytest.approx(0.1414)
    assert rows[1]["repeats"] == 2 and rows[1]["budget"] == 9 and rows[1]["continues"] == 0
    assert rows[1]["rung"] == 1 and rows[1]["x"] == pytest.approx(0.1)
