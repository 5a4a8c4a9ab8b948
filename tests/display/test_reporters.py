"""Reporters: one progress line (no per-trial log), the results table at the end, and throttled drawing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hpmagic.context import TrialContext
from hpmagic.display import TextReporter, default_reporter, results_text
from hpmagic.events import StudyFinished, StudyStarted, TrialFinished
from hpmagic.space import Float, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import Study, create_study


class Writes(io.StringIO):
    """A stream that also keeps each write apart, to count draws."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def value_of_x(ctx: TrialContext) -> float:
    return ctx.use_all()["x"]


def run(reporter: Any, n_trials: int = 10, objective: Any = value_of_x, **kw: Any) -> Study:
    study = create_study(space=Space({"x": Float(0.0, 1.0)}), name="rep", seed=0)
    study.optimize(objective, get_strategy("random"), n_trials=n_trials, reporters=[reporter], **kw)
    return study


def progress_draws(stream: Writes, study: Study) -> list[str]:
    return [w for w in stream.writes if w.startswith("\r" + study.name + " ·")]


@pytest.mark.parametrize("n_trials", [3, 12])
def test_text_reporter_writes_progress_then_the_table_only(n_trials: int) -> None:
    stream = Writes()
    study = run(TextReporter(stream=stream, min_interval=0), n_trials=n_trials)
    out = stream.getvalue()
    draws = progress_draws(stream, study)
    assert len(draws) == n_trials  # min_interval=0: redrawn after every trial, in place
    assert all("\n" not in d for d in draws)
    assert f"{n_trials}/{n_trials} trials" in draws[-1] and "best" in draws[-1]
    assert "1/" in draws[0]
    table = results_text(study)
    assert out.endswith(table + "\n")
    assert f"rep: {n_trials} of {n_trials} trials done\n" in out
    # Lines: the closing message and the table; none per trial.
    assert out.count("\n") == 1 + len(table.splitlines())


def test_text_reporter_without_table() -> None:
    stream = Writes()
    study = run(TextReporter(stream=stream, min_interval=0, table=False), n_trials=4)
    assert results_text(study).splitlines()[2] not in stream.getvalue()
    assert stream.getvalue().count("\n") == 1


def test_text_reporter_on_failures_shows_the_traceback_once() -> None:
    def broken_objective(ctx: TrialContext) -> float:
        raise ValueError("nope")

    stream = Writes()
    run(TextReporter(stream=stream, min_interval=0), n_trials=10, objective=broken_objective, max_failures=2)
    out = stream.getvalue()
    assert out.count("failed trials in a row") == 1
    assert "broken_objective" in out and "ValueError: nope" in out


def test_text_reporter_throttles() -> None:
    study = create_study(space=Space({"x": Float(0.0, 1.0)}), name="fast", seed=0)
    study.optimize(value_of_x, get_strategy("random"), n_trials=3)
    trial = study.trials[-1]

    def drive(min_interval: float) -> Writes:
        stream = Writes()
        reporter = TextReporter(stream=stream, min_interval=min_interval)
        reporter(StudyStarted(study, "random", 2000, None))
        for _ in range(2000):
            reporter(TrialFinished(study, trial, False))
        reporter(StudyFinished(study, "budget", "done"))
        return stream

    throttled = drive(10)
    assert 1 <= len(progress_draws(throttled, study)) <= 2
    assert len(throttled.writes) < 10
    unthrottled = drive(0)
    assert len(progress_draws(unthrottled, study)) == 2000  # the counting above is real


def test_default_reporter_outside_jupyter_is_text() -> None:
    assert isinstance(default_reporter(), TextReporter)


_HTML_SCRIPT = """
import json
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output
from hpmagic.display import HTMLReporter
from hpmagic.space import Float, Space
from hpmagic.strategies import get_strategy
from hpmagic.study import create_study

shell = start_ipython()
shell.display_formatter.formatters["text/html"].enabled = True  # as a notebook front end asks for
with capture_output() as captured:
    study = create_study(space=Space({"x": Float(0.0, 1.0)}), name="<i>web</i>", seed=0)
    study.optimize(lambda ctx: ctx.use_all()["x"], get_strategy("random"), n_trials=4,
                   reporters=[HTMLReporter(min_interval=0)])
print(json.dumps({
    "stdout": captured.stdout,
    "outputs": [
        {"html": o.data.get("text/html"), "id": (o.transient or {}).get("display_id"), "update": o.update}
        for o in captured.outputs
    ],
}))
"""


def test_html_reporter_updates_one_display_in_place(tmp_path: Path) -> None:
    """In a real IPython shell (its own process: the global test shell can be started only once)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "IPYTHONDIR": str(tmp_path / "ipython")}
    proc = subprocess.run(
        [sys.executable, "-c", _HTML_SCRIPT], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    outputs = [o for o in result["outputs"] if o["html"]]
    assert len(outputs) == 1 + 4 + 1  # the first line, one update per trial, the table
    assert len({o["id"] for o in outputs}) == 1  # one display, updated in place
    assert [o["update"] for o in outputs] == [False] + [True] * 5
    assert 'class="hpmagic-progress"' in outputs[1]["html"] and "1/4 trials" in outputs[1]["html"]
    final = outputs[-1]["html"]
    assert 'class="hpmagic-results"' in final
    assert "&lt;i&gt;web&lt;/i&gt;" in final
    assert all("<i>web" not in o["html"] for o in outputs)
    assert result["stdout"] == ""


def test_progress_line_of_several_objectives_names_each_with_its_direction() -> None:
    import hpmagic
    from hpmagic import tune

    stream = Writes()
    hpmagic.optimize(
        lambda p: {"accuracy": p["x"], "size": 1 - p["x"]},
        {"x": tune.uniform(0, 1)},
        strategy="random",
        n_trials=3,
        seed=0,
        directions={"accuracy": "maximize", "size": "minimize"},
        reporters=[TextReporter(stream=stream, min_interval=0, table=False)],
    )
    progress = [w for w in stream.writes if w.startswith("\r") and w.strip()]  # the line rewritten in place
    assert progress and all("accuracy ↑, size ↓" in w for w in progress), progress
    assert not any("· maximize" in w or "· minimize" in w for w in stream.writes)
