"""The multi-objective data model in a real SQLite file: objectives, directions, constraints, values, violations."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from hpmagic import Storage
from hpmagic.errors import OptionError
from hpmagic.space import Float, Space
from hpmagic.storage import SCHEMA_VERSION, space_to_json
from hpmagic.study import create_study, load_study
from hpmagic.trial import Trial, TrialState
from hpmagic.types import Direction

SPACE = Space({"x": Float(0, 1)})

# The tables as hpmagic wrote them at schema 3 (before several objectives and constraints).
SCHEMA_3 = """
CREATE TABLE hpmagic_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, direction TEXT NOT NULL,
    strategy TEXT NOT NULL, seed INTEGER NOT NULL, state TEXT NOT NULL, space TEXT NOT NULL, source TEXT,
    options TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE trials (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL, state TEXT NOT NULL, params TEXT NOT NULL, value REAL, started_at REAL NOT NULL,
    finished_at REAL, error TEXT, traceback TEXT, stdout TEXT NOT NULL DEFAULT '', stderr TEXT NOT NULL DEFAULT '',
    intermediate TEXT NOT NULL DEFAULT '[]', user_attrs TEXT NOT NULL DEFAULT '{}', owner TEXT, heartbeat REAL,
    UNIQUE (study_id, number));
CREATE TABLE controls (study_id INTEGER PRIMARY KEY REFERENCES studies(id), action TEXT NOT NULL,
    requested_at REAL NOT NULL);
INSERT INTO hpmagic_meta VALUES ('schema_version', '3');
"""


def schema_3_store(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_3)
    space = json.dumps(space_to_json(SPACE))
    conn.execute(
        "INSERT INTO studies VALUES (1, 'old', 'maximize', 'random', 3, 'finished', ?, NULL, '{}', 1.0, 2.0)", (space,)
    )
    conn.execute(
        "INSERT INTO trials (study_id, number, state, params, value, started_at, finished_at) "
        "VALUES (1, 0, 'complete', '{\"x\": 0.25}', 0.5, 1.0, 2.0)"
    )
    conn.commit()
    conn.close()


def finished(number: int, value: float, values: list[float] | None, violations: list[float] | None = None) -> Trial:
    now = time.time()
    return Trial(
        number=number,
        params={"x": 0.1 * number},
        state=TrialState.COMPLETE,
        value=value,
        started_at=now,
        finished_at=now,
        values=values,
        violations=violations,
    )


def test_feasible_follows_violations() -> None:
    assert Trial(number=0).feasible
    assert Trial(number=0, violations=[0.0, -1.0]).feasible
    assert not Trial(number=0, violations=[0.0, 2.5]).feasible


def test_multi_objective_study_round_trips_through_a_reopened_file(tmp_path: Path) -> None:
    path = tmp_path / "mo.db"
    study = create_study(
        space=SPACE,
        name="mo",
        storage=path,
        objective_names=["accuracy", "latency"],
        directions=["maximize", "minimize"],
        primary_index=1,
        constraints=["latency <= 10"],
    )
    assert study.is_multi_objective and study.direction is Direction.MINIMIZE
    trial = finished(0, 12.5, [0.9, 12.5], [2.5])
    study.storage.add_trial(study.study_id, trial, SPACE)
    running = Trial(number=1)
    study.storage.add_trial(study.study_id, running, SPACE)
    running.state, running.value, running.values, running.violations = TrialState.COMPLETE, 3.0, [0.7, 3.0], [0.0]
    study.storage.update_trial(study.study_id, running, SPACE)
    study.storage.close()

    again = load_study("mo", path)
    assert again.objective_names == ["accuracy", "latency"]
    assert again.directions == [Direction.MAXIMIZE, Direction.MINIMIZE]
    assert again.primary_index == 1 and again.direction is Direction.MINIMIZE
    assert again.constraints == ["latency <= 10"] and again.is_multi_objective
    assert [t.values for t in again.trials] == [[0.9, 12.5], [0.7, 3.0]]
    assert [t.violations for t in again.trials] == [[2.5], [0.0]]
    assert [t.feasible for t in again.trials] == [False, True]
    detail = again.storage.trial_detail(again.study_id, 0)
    assert detail is not None and detail["values"] == [0.9, 12.5] and detail["violations"] == [2.5]
    again.storage.close()

    resumed = create_study(
        space=SPACE,
        name="mo",
        storage=path,
        resume=True,
        objective_names=["accuracy", "latency"],
        directions=["maximize", "minimize"],
        primary_index=1,
        constraints=["latency <= 10"],
    )
    assert resumed.name == "mo" and len(resumed.trials) == 2 and resumed.trials[1].values == [0.7, 3.0]
    resumed.storage.close()


@pytest.mark.parametrize(
    ("names", "directions", "constraints", "message"),
    [
        (["accuracy", "latency"], ["maximize", "maximize"], ["latency <= 10"], "objectives accuracy \\(maximize\\)"),
        (["accuracy", "size"], ["maximize", "minimize"], ["latency <= 10"], "would mix them"),
        (None, None, ["latency <= 10"], "objectives accuracy"),
        (["accuracy", "latency"], ["maximize", "minimize"], [], "has constraints"),
    ],
)
def test_resuming_with_other_objectives_or_constraints_is_refused(
    tmp_path: Path, names: list[str] | None, directions: list[str] | None, constraints: list[str], message: str
) -> None:
    path = tmp_path / "mo.db"
    create_study(
        space=SPACE,
        name="mo",
        storage=path,
        objective_names=["accuracy", "latency"],
        directions=["maximize", "minimize"],
        constraints=["latency <= 10"],
    ).storage.close()
    with pytest.raises(OptionError, match=message):
        create_study(
            space=SPACE,
            name="mo",
            storage=path,
            resume=True,
            objective_names=names,
            directions=directions,
            constraints=constraints,
        )


def test_directions_must_match_the_objectives() -> None:
    with pytest.raises(OptionError, match="1 direction\\(s\\) given for 2 objective"):
        create_study(space=SPACE, objective_names=["a", "b"], directions=["maximize"])


def test_single_objective_study_keeps_its_columns_empty(tmp_path: Path) -> None:
    path = tmp_path / "so.db"
    study = create_study(space=SPACE, name="so", storage=path, direction="maximize")
    study.storage.add_trial(study.study_id, finished(0, 0.5, None), SPACE)
    study.storage.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT objective_names, directions, constraints FROM studies").fetchone() == (None,) * 3
    assert conn.execute('SELECT "values", violations FROM trials').fetchone() == (None, None)
    conn.close()
    again = load_study("so", path)
    assert again.objective_names == ["value"] and again.directions == [Direction.MAXIMIZE]
    assert again.constraints == [] and not again.is_multi_objective
    assert again.trials[0].values is None and again.trials[0].feasible
    again.storage.close()


def test_a_schema_3_store_reads_as_is_and_is_upgraded_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema_3_store(path)
    reader = Storage.open_read_only(path)
    record = reader.get_study("old")
    assert record is not None and record.objective_names == ("value",) and record.directions == ("maximize",)
    assert reader.load_trials(1)[0].values is None
    reader.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM hpmagic_meta").fetchone()[0] == "3"
    conn.close()

    old = load_study("old", path)
    assert old.objective_names == ["value"] and old.direction is Direction.MAXIMIZE and old.best_value == 0.5
    old.storage.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM hpmagic_meta").fetchone()[0] == str(SCHEMA_VERSION)
    assert {"values", "violations"} <= {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
    conn.close()
    # The upgraded file takes a multi-objective study beside the old one.
    mo = create_study(
        space=SPACE, name="new", storage=path, objective_names=["a", "b"], directions=["minimize", "minimize"]
    )
    mo.storage.add_trial(mo.study_id, finished(0, 1.0, [1.0, 2.0]), SPACE)
    mo.storage.close()
    assert load_study("new", path).trials[0].values == [1.0, 2.0]
    assert load_study("old", path).trials[0].params == {"x": 0.25}
