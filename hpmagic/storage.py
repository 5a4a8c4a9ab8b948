"""Study store: an embedded SQLite file (stdlib sqlite3, WAL), or ``:memory:`` for throwaway studies.

The kernel is the only writer. Every trial row is committed when it starts and again when it ends, so a crash
loses at most the running trial, which a resume marks interrupted. A file that is not an hpmagic store, one written
by a newer hpmagic, or one locked by another process is refused with a clear error and never modified.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpmagic._checks import is_int, is_real
from hpmagic.errors import StorageError
from hpmagic.space import Categorical, Dimension, Float, Int, Space, choice_key
from hpmagic.trial import Trial, TrialState

__all__ = ["CONTROL_ACTIONS", "SCHEMA_VERSION", "StudyRecord", "Storage", "open_storage"]

# 1: studies and trials. 2: the controls table (stop/pause requests from other processes, e.g. JupyterLab).
# 3: trials.owner and trials.heartbeat, so processes sharing a study tell their running trials from crashed ones.
# 4: several objectives and constraints: studies.objective_names / directions / primary_index / constraints and
#    trials."values" / violations (JSON lists; NULL in studies and trials of one objective without constraints).
SCHEMA_VERSION = 4

#: Seconds between heartbeats of a process's running trials, and the silence after which another process takes
#: such a trial for dead (its process crashed or was killed on another machine) and marks it interrupted.
HEARTBEAT_INTERVAL = 5.0
STALE_AFTER = 60.0
#: Seconds a finished trial's write keeps retrying while another process holds the store's write lock.
LOCK_PATIENCE = 30.0

CONTROL_ACTIONS = ("stop", "pause", "resume")

_CONTROLS_TABLE = """
CREATE TABLE IF NOT EXISTS controls (
    study_id INTEGER PRIMARY KEY REFERENCES studies(id),
    action TEXT NOT NULL,
    requested_at REAL NOT NULL
)
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hpmagic_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    direction TEXT NOT NULL,
    strategy TEXT NOT NULL,
    seed INTEGER NOT NULL,
    state TEXT NOT NULL,
    space TEXT NOT NULL,
    source TEXT,
    options TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    objective_names TEXT,
    directions TEXT,
    primary_index INTEGER,
    constraints TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    value REAL,
    started_at REAL NOT NULL,
    finished_at REAL,
    error TEXT,
    traceback TEXT,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT '',
    intermediate TEXT NOT NULL DEFAULT '[]',
    user_attrs TEXT NOT NULL DEFAULT '{}',
    owner TEXT,
    heartbeat REAL,
    "values" TEXT,
    violations TEXT,
    UNIQUE (study_id, number)
);
CREATE INDEX IF NOT EXISTS trials_by_study ON trials(study_id, number);
"""
_SCHEMA += _CONTROLS_TABLE + ";"


@dataclass(frozen=True)
class StudyRecord:
    """A study's row: what is needed to reopen it."""

    id: int
    name: str
    direction: str
    strategy: str
    seed: int
    state: str
    space: list[dict[str, Any]]
    source: str | None
    options: dict[str, Any]
    created_at: float
    updated_at: float
    #: The objectives' names and directions in order, and which one is primary (``direction`` is the primary's).
    objective_names: tuple[str, ...] = ("value",)
    directions: tuple[str, ...] = ()
    primary_index: int = 0
    #: The constraint expressions as typed (empty when none).
    constraints: tuple[str, ...] = ()


def open_storage(storage: str | os.PathLike[str] | Storage | None) -> Storage:
    """A Storage from a path, ``":memory:"``, an existing Storage, or None (in memory)."""
    if isinstance(storage, Storage):
        return storage
    if storage is not None and not isinstance(storage, (str, os.PathLike)):
        raise StorageError(f"storage must be a file path, ':memory:', a Storage or None, got {storage!r}")
    return Storage(":memory:" if storage is None else storage)


class Storage:
    """Reads and writes studies and trials in one SQLite database."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, timeout: float = 2.0) -> None:
        self.path = str(path)
        # One connection may serve a study running in a background thread and the notebook at once.
        self._lock = threading.RLock()
        self._setup_process_state()
        try:
            self._conn = self._connect(timeout)
        except StorageError as exc:
            # A store in a read-only folder or mount: it can still be read (and says "read-only" when written).
            if not (_read_only_failure(str(exc)) and Path(self.path).expanduser().is_file()):
                raise
            self._conn = _connect_read_only(self.path, timeout)
            self.read_only = True

    def _setup_process_state(self) -> None:
        #: Who writes this connection's trials: host, process and a nonce (processes sharing a store tell theirs apart).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: True when the store could only be opened for reading (a read-only folder, mount or file).
        self.read_only = False
        self._heartbeat = _Heartbeat(self)
        # Finished trials whose write failed because the disk was full: written by the next write that succeeds.
        self._pending: dict[tuple[int, int], tuple[Any, ...]] = {}

    # -- opening -------------------------------------------------------------------------------------------------

    def _connect(self, timeout: float) -> sqlite3.Connection:
        where = self.path
        if where != ":memory:":
            parent = Path(where).expanduser().resolve().parent
            if not parent.is_dir():
                raise StorageError(f"cannot create the study store {where!r}: folder {str(parent)!r} does not exist")
            if Path(where).expanduser().is_dir():
                raise StorageError(f"the study store {where!r} is a folder; give a file path such as hpmagic.db")
        target = where if where == ":memory:" else os.path.expanduser(where)
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the study store {where!r}: {exc}") from None
        try:
            objects = conn.execute("SELECT type, name FROM sqlite_master").fetchall()
            tables = {name for kind, name in objects if kind == "table"}
            # Any schema object (a view too) or a set user_version / application_id means another program's
            # database: creating our tables in it would modify a file we were told to leave alone.
            foreign_marks = any(conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("user_version", "application_id"))
            if (objects or foreign_marks) and "hpmagic_meta" not in tables:
                raise StorageError(
                    f"{where!r} is an SQLite database but not an hpmagic study store (it holds other tables or views); "
                    "it was left untouched: pass --storage with another file"
                )
            version = SCHEMA_VERSION
            if "hpmagic_meta" in tables:
                row = conn.execute("SELECT value FROM hpmagic_meta WHERE key='schema_version'").fetchone()
                version = _schema_version(row[0] if row else None, where)
                if version > SCHEMA_VERSION:
                    raise StorageError(
                        f"{where!r} was written by a newer hpmagic (store schema {version}, this one reads "
                        f"{SCHEMA_VERSION}); upgrade hpmagic or use another --storage file"
                    )
                if version < 1:
                    raise StorageError(f"{where!r} has no valid hpmagic schema version; it was left untouched")
            if objects and where != ":memory:":
                # A damaged file is refused for writing: writing into it could lose what is still readable.
                problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
                if problems != ["ok"]:
                    raise StorageError(
                        f"{where!r} fails SQLite's integrity check ({'; '.join(map(str, problems))[:200]}); it is "
                        "refused for writing and was left untouched: copy what you need with Storage.open_read_only "
                        "(or sqlite3's .recover) and pass --storage with another file"
                    )
            if where != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            if not objects:
                with _transaction(conn):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(
                        "INSERT OR REPLACE INTO hpmagic_meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            elif version < SCHEMA_VERSION:
                _upgrade(conn, version)
        except StorageError:
            conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _explain(exc, where) from None
        return conn

    def close(self) -> None:
        """Close the connection (a closed Storage cannot be used again)."""
        self._heartbeat.stop()
        if self._heartbeat.ids and not self.read_only:
            # A closed connection finishes none of its running trials: let the next resume see them as gone.
            marks = ",".join("?" * len(self._heartbeat.ids))
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute(
                    f"UPDATE trials SET heartbeat = 0 WHERE state = 'running' AND owner = ? AND id IN ({marks})",
                    (self.owner, *sorted(self._heartbeat.ids)),
                )
        self._conn.close()

    def __repr__(self) -> str:
        return f"Storage({self.path!r})"

    # -- studies -------------------------------------------------------------------------------------------------

    def create_study(
        self,
        name: str,
        *,
        direction: str,
        strategy: str,
        seed: int,
        space: Space,
        source: str | None = None,
        options: Mapping[str, Any] | None = None,
        objective_names: Sequence[str] | None = None,
        directions: Sequence[str] | None = None,
        primary_index: int = 0,
        constraints: Sequence[str] = (),
        unique: bool = False,
    ) -> StudyRecord:
        """Insert a new study; ``name`` must be unused, or with ``unique`` it becomes ``unique_name(name)``.

        ``unique`` picks the name inside the insert's write transaction: two processes starting a study of the same
        name at once get ``name`` and ``name (2)``, where a name picked before the insert would collide.

        ``objective_names`` / ``directions`` / ``primary_index`` describe a multi-objective study (``direction`` is
        then the primary's); left out, the study has one objective named ``value``. ``constraints`` are stored as
        typed.
        """
        now = time.time()
        several = objective_names is not None and len(objective_names) > 1
        names_json = json.dumps(list(objective_names)) if several and objective_names is not None else None
        directions_json = json.dumps([str(d) for d in directions]) if several and directions is not None else None
        constraints_json = json.dumps(list(constraints)) if constraints else None
        try:
            with self._lock, _transaction(self._conn):
                if unique:
                    name = self.unique_name(name)
                cur = self._conn.execute(
                    "INSERT INTO studies (name, direction, strategy, seed, state, space, source, options, "
                    "created_at, updated_at, objective_names, directions, primary_index, constraints) "
                    "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        direction,
                        strategy,
                        int(seed),
                        json.dumps(space_to_json(space)),
                        source,
                        json.dumps(_jsonable(dict(options or {}))),
                        now,
                        now,
                        names_json,
                        directions_json,
                        int(primary_index) if several else None,
                        constraints_json,
                    ),
                )
        except sqlite3.IntegrityError:
            raise StorageError(f"a study named {name!r} already exists in {self.path!r}") from None
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None
        assert cur.lastrowid is not None  # the INSERT above set it
        record = self.get_study(cur.lastrowid)
        assert record is not None
        return record

    def get_study(self, key: int | str) -> StudyRecord | None:
        """A study by id or exact name, or None."""
        column = "id" if isinstance(key, int) else "name"
        row = self._query_one(f"SELECT * FROM studies WHERE {column} = ?", (key,))
        return None if row is None else self._record(row)

    def latest_study(self, base: str) -> StudyRecord | None:
        """The newest study named ``base`` or ``base (k)``: the one ``--resume`` continues."""
        rows = self._query(
            "SELECT * FROM studies WHERE name = ? OR name LIKE ? ORDER BY created_at DESC, id DESC",
            (base, f"{_like_escape(base)} (%)"),
        )
        for row in rows:
            if row["name"] == base or _is_variant(str(row["name"]), base):
                return self._record(row)
        return None

    def unique_name(self, base: str) -> str:
        """``base`` if unused, else ``base (2)``, ``base (3)``, ...: a rerun never overwrites an earlier study."""
        taken = {
            r["name"]
            for r in self._query(
                "SELECT name FROM studies WHERE name = ? OR name LIKE ?", (base, f"{_like_escape(base)} (%)")
            )
        }
        if base not in taken:
            return base
        k = 2
        while f"{base} ({k})" in taken:
            k += 1
        return f"{base} ({k})"

    def list_studies(self) -> list[dict[str, Any]]:
        """One summary dict per study, newest first: name, state, direction, strategy, trials, best value."""
        feasible = self._feasible_sql()
        rows = self._query(
            "SELECT s.*, "
            "(SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id) AS n_trials, "
            "(SELECT COUNT(*) FROM trials t WHERE t.study_id = s.id AND t.state = 'complete') AS n_complete, "
            f"(SELECT MIN(value) FROM trials t WHERE t.study_id = s.id AND t.state = 'complete' AND {feasible}) "
            "AS min_value, "
            f"(SELECT MAX(value) FROM trials t WHERE t.study_id = s.id AND t.state = 'complete' AND {feasible}) "
            "AS max_value "
            "FROM studies s ORDER BY s.created_at DESC, s.id DESC",
            (),
        )
        out = []
        for r in rows:
            best = r["max_value"] if r["direction"] == "maximize" else r["min_value"]
            # Plain columns only, each of its type whatever a damaged row holds: the list must show every study.
            out.append(
                {
                    "name": str(r["name"]),
                    "state": str(r["state"]),
                    "direction": str(r["direction"]),
                    "strategy": str(r["strategy"]),
                    "n_trials": r["n_trials"],
                    "n_complete": r["n_complete"],
                    "best_value": float(best) if is_real(best) and math.isfinite(best) else None,
                    "created_at": r["created_at"] if is_real(r["created_at"]) else 0.0,
                    "updated_at": r["updated_at"] if is_real(r["updated_at"]) else 0.0,
                }
            )
        return out

    def set_study_state(self, study_id: int, state: str) -> None:
        """Record how the study's last run ended (running, finished, stopped, interrupted, failed)."""
        self._execute("UPDATE studies SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), study_id))

    def mark_running_interrupted(self, study_id: int, stale_after: float | None = None) -> int:
        """Trials left 'running' by a process that is gone become 'interrupted'; returns how many.

        Gone means: written before trials had owners, or by a process of this machine that no longer exists, or
        by this connection but no longer running here, or silent (no heartbeat) for ``stale_after`` seconds
        (default ``STALE_AFTER``). A trial that another live process is running keeps running, so two notebooks
        can resume the same study.
        """
        stale_after = STALE_AFTER if stale_after is None else stale_after
        if not self._has_column("trials", "owner"):
            rows = self._query(
                "SELECT id, NULL AS owner, NULL AS heartbeat, started_at FROM trials "
                "WHERE study_id = ? AND state = 'running'",
                (study_id,),
            )
        else:
            rows = self._query(
                "SELECT id, owner, heartbeat, started_at FROM trials WHERE study_id = ? AND state = 'running'",
                (study_id,),
            )
        now = time.time()
        dead = [r["id"] for r in rows if self._owner_gone(r, now, stale_after)]
        if not dead:
            return 0
        marks = ",".join("?" * len(dead))
        cur = self._execute(
            "UPDATE trials SET state = 'interrupted', error = 'the kernel stopped while this trial ran', "
            f"finished_at = COALESCE(finished_at, started_at) WHERE state = 'running' AND id IN ({marks})",
            tuple(dead),
        )
        return cur.rowcount

    def _owner_gone(self, row: Mapping[str, Any], now: float, stale_after: float) -> bool:
        owner, beat = row["owner"], row["heartbeat"]
        if not isinstance(owner, str):
            return True
        if owner == self.owner:
            return row["id"] not in self._heartbeat.ids
        host, _, rest = owner.partition(":")
        pid_text = rest.partition(":")[0]
        if host == socket.gethostname() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            return True
        last = beat if is_real(beat) else row["started_at"]
        return not is_real(last) or now - float(last) > stale_after

    # -- trials --------------------------------------------------------------------------------------------------

    def add_trial(
        self, study_id: int, trial: Trial, space: Space | None = None, params: dict[str, Any] | None = None
    ) -> None:
        """Insert a trial (usually running) and commit; sets ``trial.trial_id``.

        ``params`` (the strategy's proposal) is stored while the trial runs, so a trial cut short by a crash still
        says which configuration it was running; ``update_trial`` replaces it with the values actually used.
        """
        fields = list(self._trial_fields(trial, space))
        if params is not None:
            fields[1] = json.dumps(encode_params(params, space))
        cur = self._execute(
            "INSERT INTO trials (study_id, number, state, params, value, started_at, finished_at, error, "
            'traceback, stdout, stderr, intermediate, user_attrs, "values", violations, owner, heartbeat) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (study_id, trial.number, *fields, self.owner, time.time()),
        )
        trial.trial_id = cur.lastrowid
        if trial.state is TrialState.RUNNING and trial.trial_id is not None:
            self._heartbeat.add(trial.trial_id)
        self._touch(study_id)

    def reserve_number(self, study_id: int) -> int:
        """The study's next trial number, taken atomically with a placeholder row (running, no params yet).

        Numbers come from the store, not from a process's memory, so processes running the same study never
        collide; ``start_trial`` fills the row in.
        """
        now = time.time()
        try:
            with self._lock, _transaction(self._conn):
                self._flush_pending()
                row = self._conn.execute(
                    "SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study_id = ?", (study_id,)
                ).fetchone()
                number = int(row[0])
                cur = self._conn.execute(
                    "INSERT INTO trials (study_id, number, state, params, started_at, owner, heartbeat) "
                    "VALUES (?, ?, 'running', '{}', ?, ?, ?)",
                    (study_id, number, now, self.owner, now),
                )
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None
        if cur.lastrowid is not None:
            self._heartbeat.add(cur.lastrowid)
        return number

    def start_trial(
        self,
        study_id: int,
        trial: Trial,
        space: Space | None,
        params: Mapping[str, Any],
        *,
        unique: bool = False,
    ) -> bool:
        """Fill in the row ``reserve_number`` made for ``trial.number`` with the proposed ``params``.

        With ``unique`` (a sampler that enumerates a finite set, such as a grid), a configuration that another
        trial of the study already ran or is running is refused (False, nothing written), checked and written in
        one transaction: two processes sharing a grid never both run one point.
        """
        encoded = encode_params(params, space)
        fields = list(self._trial_fields(trial, space))
        fields[1] = json.dumps(encoded)
        try:
            with self._lock, _transaction(self._conn):
                if unique and encoded:
                    others = self._conn.execute(
                        "SELECT params FROM trials WHERE study_id = ? AND number != ? "
                        "AND state IN ('running', 'complete', 'failed', 'pruned')",
                        (study_id, trial.number),
                    )
                    for (text,) in others:
                        if _same_config(text, encoded):
                            return False
                cur = self._conn.execute(
                    "UPDATE trials SET state = ?, params = ?, value = ?, started_at = ?, finished_at = ?, error = ?, "
                    'traceback = ?, stdout = ?, stderr = ?, intermediate = ?, user_attrs = ?, "values" = ?, '
                    "violations = ?, heartbeat = ? WHERE study_id = ? AND number = ? AND owner = ? RETURNING id",
                    (*fields, time.time(), study_id, trial.number, self.owner),
                )
                row = cur.fetchone()
                if row is None:
                    raise StorageError(
                        f"trial {trial.number} of study {self._study_label(study_id)} was not reserved by this "
                        f"process in {self.path!r}"
                    )
                trial.trial_id = int(row[0])
                self._conn.execute("UPDATE studies SET updated_at = ? WHERE id = ?", (time.time(), study_id))
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None
        return True

    def claimed_elsewhere(self, study_id: int, after_id: int, space: Space | None) -> tuple[int, list[dict[str, Any]]]:
        """``(last_id, params)``: configurations other processes took in this study (rows after ``after_id``)."""
        rows = self._query(
            "SELECT id, params FROM trials WHERE study_id = ? AND id > ? AND (owner IS NULL OR owner != ?) "
            "AND state IN ('running', 'complete', 'failed', 'pruned') AND params != '{}' ORDER BY id",
            (study_id, after_id, self.owner),
        )
        out = []
        for r in rows:
            try:
                stored = _loads(r["params"])
            except ValueError:
                continue
            if isinstance(stored, dict):
                out.append(decode_params(stored, space))
        return (rows[-1]["id"] if rows else after_id), out

    @property
    def pending(self) -> list[tuple[int, int]]:
        """``(study_id, trial number)`` of finished trials not yet written because the disk was full."""
        return sorted(self._pending)

    def update_trial(self, study_id: int, trial: Trial, space: Space | None = None) -> None:
        """Write the trial's current state and commit (called when it finishes).

        A finished trial's result is not given up over a lock another process holds for a while (a long write,
        a database browser): the write is retried for ``LOCK_PATIENCE`` seconds. When the disk is full, or the lock
        outlasts that, the trial is kept in memory (``pending``) and written by the next write that succeeds; the
        StorageError raised says which trials are not saved yet.
        """
        args = (*self._trial_fields(trial, space), time.time(), study_id, trial.number)
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                with self._lock:
                    self._flush_pending()
                    self._conn.execute(_UPDATE_TRIAL, args)
                    self._conn.execute("UPDATE studies SET updated_at = ? WHERE id = ?", (time.time(), study_id))
                break
            except sqlite3.DatabaseError as exc:
                if _locked(exc) and time.monotonic() < deadline:
                    continue  # each attempt waits the connection's busy timeout
                if _disk_full(exc) or _locked(exc):
                    self._pending[(study_id, trial.number)] = args
                    numbers = ", ".join(str(n) for _, n in sorted(self._pending))
                    where = f"the study store {self.path!r}"
                    why = f"the disk holding {where} is full" if _disk_full(exc) else f"{where} is locked elsewhere"
                    raise StorageError(
                        f"{why}: trial(s) {numbers} of study "
                        f"{self._study_label(study_id)} are not saved yet; they are kept in memory and written by "
                        "the next write that succeeds (free some space or close the other program, then resume or "
                        "call study.storage.flush())"
                    ) from None
                raise _explain(exc, self.path) from None
        if trial.state is not TrialState.RUNNING and trial.trial_id is not None:
            self._heartbeat.discard(trial.trial_id)

    def flush(self) -> None:
        """Write the trials kept in memory while the disk was full (a StorageError if it still is)."""
        try:
            with self._lock:
                self._flush_pending()
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None

    def _flush_pending(self) -> None:
        for key, args in sorted(self._pending.items()):
            self._conn.execute(_UPDATE_TRIAL, args)
            del self._pending[key]

    def load_trials(self, study_id: int, space: Space | None = None) -> list[Trial]:
        """Every trial of a study, by number. ``space`` decodes stored choices back to the objects.

        A damaged row (bad JSON, an unknown state, a wrong type) is a StorageError that names the store, the study
        and the trial; other studies in the file are not affected.
        """
        rows = self._query("SELECT * FROM trials WHERE study_id = ? ORDER BY number", (study_id,))
        trials = []
        for r in rows:
            try:
                trials.append(_trial_of(r, space))
            except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
                raise StorageError(
                    f"study {self._study_label(study_id)} in {self.path!r} has a damaged trial row "
                    f"(number {r.get('number')!r}: {_short(exc)}); other studies in the file are usable"
                ) from None
        return trials

    def best_value_of(self, param: str, dim: Dimension | None = None) -> tuple[bool, Any]:
        """The value of ``param`` in the best trial of the newest study that has it: ``(found, value)``.

        Used by markers evaluated outside a study, after a kernel restart. A choice stored by index (an object JSON
        cannot hold) is found only with ``dim``, the marker's own choices, and is then that marker's object.
        """
        for study in self._query("SELECT id, direction FROM studies ORDER BY created_at DESC, id DESC", ()):
            order = "DESC" if study["direction"] == "maximize" else "ASC"
            rows = self._query(
                f"SELECT params FROM trials t WHERE study_id = ? AND state = 'complete' AND {self._feasible_sql()} "
                f"ORDER BY value {order}, number ASC",
                (study["id"],),
            )
            for row in rows:
                params = json.loads(row["params"])
                if param in params:
                    value = params[param]
                    if isinstance(dim, Categorical) or (isinstance(value, dict) and "$choice" in value):
                        decoded = decode_params({param: value}, Space({param: dim}) if dim is not None else None)
                        value = decoded[param]
                        if not isinstance(dim, Categorical) or not dim.contains(value):
                            return False, None  # an object that only the cell can rebuild
                    return True, value
                break  # the best trial did not use it (conditional): look at older studies
        return False, None

    # -- other processes: read-only browsing, change marker, summaries, control requests ---------------------------
    # The JupyterLab server extension browses stores that kernels are writing, and asks a running study to stop or
    # pause by writing a request that the study's loop reads between trials, so it works across processes.

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str], *, timeout: float = 0.5) -> Storage:
        """Open an existing store for reading only.

        Unlike ``Storage(path)`` it never creates the file, never creates or upgrades the schema and never switches
        the journal mode, so browsing cannot change a store (or a file that is not one). An older store reads as
        it is; a newer, foreign, corrupt or locked one raises StorageError.
        """
        store = cls.__new__(cls)
        store.path = str(path)
        store._lock = threading.RLock()
        store._setup_process_state()
        store._conn = _connect_read_only(store.path, timeout)
        store.read_only = True
        return store

    def change_marker(self) -> str:
        """A short string that changes whenever a study or trial is written, a study is renamed or deleted, or a
        control request is made: what a live view compares instead of reloading everything."""
        row = self._query_one(
            "SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS t, COALESCE(SUM(id), 0) AS ids FROM studies", ()
        )
        assert row is not None
        marker = f"{row['n']}:{row['t']!r}:{row['ids']}"
        if self._has_controls():
            c = self._query_one("SELECT COUNT(*) AS n, COALESCE(MAX(requested_at), 0) AS t FROM controls", ())
            assert c is not None
            marker += f":{c['n']}:{c['t']!r}"
        return marker

    def study_summaries(self, updated_since: float | None = None, study_id: int | None = None) -> list[dict[str, Any]]:
        """One row per study (or per study updated after ``updated_since``, or just ``study_id``), newest first.

        One grouped query: id, name, state, direction, strategy, trial counts by state, best value and trial,
        the planned number of trials when the study recorded it, times, any pending control request, and the notebook
        the study was run from when the magic knew it.
        """
        conditions, args = [], []
        if updated_since is not None:
            conditions.append("s.updated_at > ?")
            args.append(updated_since)
        if study_id is not None:
            conditions.append("s.id = ?")
            args.append(study_id)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        feasible = self._feasible_sql()
        rows = self._query(
            "SELECT s.id, s.name, s.state, s.direction, s.strategy, s.options, s.created_at, s.updated_at, "
            "COUNT(t.id) AS n_trials, "
            "COALESCE(SUM(t.state = 'complete'), 0) AS n_complete, "
            "COALESCE(SUM(t.state = 'running'), 0) AS n_running, "
            "COALESCE(SUM(t.state = 'failed'), 0) AS n_failed, "
            f"MIN(CASE WHEN t.state = 'complete' AND {feasible} THEN t.value END) AS min_value, "
            f"MAX(CASE WHEN t.state = 'complete' AND {feasible} THEN t.value END) AS max_value "
            f"FROM studies s LEFT JOIN trials t ON t.study_id = s.id {where}"
            "GROUP BY s.id ORDER BY s.updated_at DESC, s.id DESC",
            tuple(args),
        )
        controls = self._controls()
        out = []
        for r in rows:
            try:
                options = json.loads(r["options"])
            except ValueError:
                options = {}
            if not isinstance(options, dict):
                options = {}
            planned = options.get("n_trials")
            notebook = options.get("notebook")
            out.append(
                {
                    "id": r["id"],
                    "name": r["name"],
                    "state": r["state"],
                    "direction": r["direction"],
                    "strategy": r["strategy"],
                    "n_trials": r["n_trials"],
                    "n_complete": r["n_complete"],
                    "n_running": r["n_running"],
                    "n_failed": r["n_failed"],
                    "n_planned": planned if isinstance(planned, int) and not isinstance(planned, bool) else None,
                    "best_value": r["max_value"] if r["direction"] == "maximize" else r["min_value"],
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "control": controls.get(r["id"]),
                    "notebook": notebook if isinstance(notebook, str) else None,
                }
            )
        return out

    def trial_page(
        self,
        study_id: int,
        *,
        sort: str = "number",
        descending: bool = False,
        offset: int = 0,
        limit: int = 100,
        feasible_only: bool = False,
    ) -> tuple[int, list[dict[str, Any]]]:
        """``(total, rows)``: one page of a study's trials sorted in SQL, so a 10,000-trial study pages quickly.

        ``sort`` is ``number``, ``state``, ``value``, ``duration``, ``started_at``, ``test`` or ``param:NAME``;
        missing values sort last either way. Rows hold what a table shows (``violations`` too, in a study with
        constraints); ``trial_detail`` has the rest. ``feasible_only`` leaves out trials that violate a constraint
        (the best trial is the best feasible one).
        """
        args: list[Any] = []
        if sort.startswith("param:"):
            key = "json_extract(params, ?)"
            args.append("$." + json.dumps(sort[len("param:") :]))
        elif sort in _TRIAL_SORT_KEYS:
            key = _TRIAL_SORT_KEYS[sort]
        else:
            raise StorageError(f"cannot sort trials by {sort!r}")
        order = "DESC" if descending else "ASC"
        total_row = self._query_one("SELECT COUNT(*) AS n FROM trials WHERE study_id = ?", (study_id,))
        has_violations = self._has_column("trials", "violations")
        extra = "violations, " if has_violations else ""
        rows = self._query(
            f"SELECT number, state, params, value, started_at, finished_at, error, {extra}"
            "json_extract(user_attrs, '$.test') AS test, json_extract(user_attrs, '$.budget') AS budget, "
            "json_array_length(intermediate) AS n_reports, "
            "(length(stdout) + length(stderr) + length(COALESCE(traceback, ''))) > 0 AS has_output "
            f"FROM trials t WHERE study_id = ? {f'AND {self._feasible_sql()} ' if feasible_only else ''}"
            f"ORDER BY ({key}) IS NULL, {key} {order}, number {order} LIMIT ? OFFSET ?",
            (study_id, *args, *args, max(0, int(limit)), max(0, int(offset))),
        )
        out = []
        for r in rows:
            row = dict(r)
            row["params"] = json.loads(row["params"])
            row["has_output"] = bool(row["has_output"])
            if has_violations:
                row["violations"] = _numbers_of(row.get("violations"), "violations")
            out.append(row)
        return (total_row["n"] if total_row else 0), out

    def trial_detail(self, study_id: int, number: int) -> dict[str, Any] | None:
        """Everything stored about one trial (output, traceback, reports, attributes), or None."""
        r = self._query_one("SELECT * FROM trials WHERE study_id = ? AND number = ?", (study_id, number))
        if r is None:
            return None
        out = dict(r)
        for key in ("params", "intermediate", "user_attrs"):
            out[key] = json.loads(out[key])
        for key in ("values", "violations"):
            out[key] = _numbers_of(out.get(key), key)
        return out

    def set_control(self, study_id: int, action: str | None) -> None:
        """Ask the loop running study ``study_id`` (in any process) to ``stop``, ``pause`` or ``resume``; None
        clears the request (the loop does, once it has obeyed)."""
        if action is not None and action not in CONTROL_ACTIONS:
            raise StorageError(f"a control request is one of {', '.join(CONTROL_ACTIONS)} or None, got {action!r}")
        if action is None:
            self._execute("DELETE FROM controls WHERE study_id = ?", (study_id,))
        else:
            self._execute(
                "INSERT OR REPLACE INTO controls (study_id, action, requested_at) VALUES (?, ?, ?)",
                (study_id, action, time.time()),
            )

    def get_control(self, study_id: int) -> str | None:
        """The pending control request for a study (``stop``, ``pause``, ``resume``), or None. Cheap: one lookup."""
        if not self._has_controls():
            return None
        row = self._query_one("SELECT action FROM controls WHERE study_id = ?", (study_id,))
        return None if row is None else row["action"]

    def rename_study(self, study_id: int, name: str) -> None:
        """Give a study a new, unused name."""
        if not isinstance(name, str) or not name.strip():
            raise StorageError(f"a study name must be a non-empty string, got {name!r}")
        try:
            cur = self._execute(
                "UPDATE studies SET name = ?, updated_at = ? WHERE id = ?", (name.strip(), time.time(), study_id)
            )
        except StorageError as exc:
            if "UNIQUE" in str(exc):
                raise StorageError(f"a study named {name.strip()!r} already exists in {self.path!r}") from None
            raise
        if cur.rowcount == 0:
            raise StorageError(f"no study with id {study_id} in {self.path!r}")

    def delete_study(self, study_id: int) -> None:
        """Delete a study with its trials and requests; a running study is refused (stop it first)."""
        record = self.get_study(study_id)
        if record is None:
            raise StorageError(f"no study with id {study_id} in {self.path!r}")
        if record.state == "running":
            raise StorageError(f"study {record.name!r} is running; stop it before deleting it")
        try:
            with self._lock, _transaction(self._conn):
                self._conn.execute("DELETE FROM trials WHERE study_id = ?", (study_id,))
                self._conn.execute("DELETE FROM controls WHERE study_id = ?", (study_id,))
                self._conn.execute("DELETE FROM studies WHERE id = ?", (study_id,))
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None

    def _has_controls(self) -> bool:
        """False for a store of schema 1 opened read-only (not upgraded)."""
        return (
            self._query_one("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'controls'", ())
            is not None
        )

    def _controls(self) -> dict[int, str]:
        if not self._has_controls():
            return {}
        return {r["study_id"]: r["action"] for r in self._query("SELECT study_id, action FROM controls", ())}

    # -- helpers -------------------------------------------------------------------------------------------------

    def _trial_fields(self, trial: Trial, space: Space | None) -> tuple[Any, ...]:
        value = trial.value if trial.value is None or math.isfinite(trial.value) else None
        return (
            trial.state.value,
            json.dumps(encode_params(trial.params, space)),
            value,
            trial.started_at,
            trial.finished_at,
            trial.error,
            trial.traceback,
            trial.stdout,
            trial.stderr,
            json.dumps([[int(s), float(v)] for s, v in trial.intermediate]),
            json.dumps(_jsonable(trial.user_attrs)),
            _numbers_json(trial.values),
            _numbers_json(trial.violations),
        )

    def _record(self, row: Mapping[str, Any]) -> StudyRecord:
        try:
            return _record(row)
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as exc:
            raise StorageError(
                f"study {row.get('name')!r} in {self.path!r} has a damaged row ({_short(exc)}); "
                "other studies in the file are usable"
            ) from None

    def _study_label(self, study_id: int) -> str:
        try:
            row = self._conn.execute("SELECT name FROM studies WHERE id = ?", (study_id,)).fetchone()
        except sqlite3.Error:
            row = None
        return repr(row[0]) if row else f"#{study_id}"

    def _feasible_sql(self) -> str:
        """An SQL condition on trials ``t``: no constraint violated (always true in a store from before
        constraints)."""
        if not self._has_column("trials", "violations"):
            return "1"
        return "(t.violations IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(t.violations) AS v WHERE v.value > 0))"

    def _has_column(self, table: str, column: str) -> bool:
        return any(r["name"] == column for r in self._query(f"PRAGMA table_info({table})", ()))

    def _beat(self, ids: list[int]) -> None:
        marks = ",".join("?" * len(ids))
        self._execute(
            f"UPDATE trials SET heartbeat = ? WHERE state = 'running' AND owner = ? AND id IN ({marks})",
            (time.time(), self.owner, *ids),
        )

    def _touch(self, study_id: int) -> None:
        self._execute("UPDATE studies SET updated_at = ? WHERE id = ?", (time.time(), study_id))

    def _execute(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._conn.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[_Row]:
        try:
            with self._lock:
                cur = self._conn.execute(sql, args)
                names = [d[0] for d in cur.description]
                return [_Row(names, r) for r in cur.fetchall()]
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None

    def _query_one(self, sql: str, args: tuple[Any, ...]) -> _Row | None:
        rows = self._query(sql, args)
        return rows[0] if rows else None


class _Row(dict):
    def __init__(self, names: list[str], values: tuple[Any, ...]) -> None:
        super().__init__(zip(names, values, strict=True))


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error (autocommit connection otherwise)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _explain(exc: sqlite3.DatabaseError, where: str) -> StorageError:
    text = str(exc)
    if _locked(exc):
        return StorageError(
            f"the study store {where!r} is locked by another process; close it there or use another --storage file"
        )
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return StorageError(
            f"{where!r} is not a readable hpmagic study store ({text}); it was left untouched: "
            "pass --storage with another file"
        )
    if _read_only_failure(text):
        return StorageError(
            f"the study store {where!r} is read-only (its file, folder or mount cannot be written): its studies can "
            "be shown but not run or changed; use another --storage file"
        )
    if _disk_full(exc):
        return StorageError(f"the disk holding the study store {where!r} is full; free some space and try again")
    return StorageError(f"the study store {where!r} failed: {text}")


_TRIAL_SORT_KEYS = {
    "number": "number",
    "state": "state",
    "value": "value",
    "duration": "finished_at - started_at",
    "started_at": "started_at",
    "test": "json_extract(user_attrs, '$.test')",
}


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Bring a store of an older schema up to this one (only when opened for writing)."""
    with _transaction(conn):
        if version < 2:
            conn.execute(_CONTROLS_TABLE)
        if version < 3:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(trials)")}
            for column, kind in (("owner", "TEXT"), ("heartbeat", "REAL")):
                if column not in columns:
                    conn.execute(f"ALTER TABLE trials ADD COLUMN {column} {kind}")
        if version < 4:
            _add_columns(conn, "trials", (('"values"', "TEXT"), ("violations", "TEXT")))
            _add_columns(
                conn,
                "studies",
                (
                    ("objective_names", "TEXT"),
                    ("directions", "TEXT"),
                    ("primary_index", "INTEGER"),
                    ("constraints", "TEXT"),
                ),
            )
        conn.execute("INSERT OR REPLACE INTO hpmagic_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def _add_columns(conn: sqlite3.Connection, table: str, columns: tuple[tuple[str, str], ...]) -> None:
    present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
    for column, kind in columns:
        if column.strip('"') not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _numbers_json(numbers: list[float] | None) -> str | None:
    """A list of objective values or violations as stored: JSON, non-finite entries as null (None stays NULL)."""
    if numbers is None:
        return None
    return json.dumps([float(v) if math.isfinite(v) else None for v in numbers])


def _numbers_of(text: Any, what: str) -> list[float] | None:
    """The stored list back (NULL, or a column missing from an older store, is None); damage is a TypeError."""
    if text is None:
        return None
    numbers = _loads(text)
    if not isinstance(numbers, list) or not all(v is None or is_real(v) for v in numbers):
        raise TypeError(f"{what} {text!r} is not a list of numbers")
    return [math.nan if v is None else float(v) for v in numbers]


def _texts_of(text: Any, what: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    items = _loads(text)
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise TypeError(f"its {what} are not a list of text")
    return tuple(items)


def _connect_read_only(where: str, timeout: float) -> sqlite3.Connection:
    """A read-only connection to an existing hpmagic store (see ``Storage.open_read_only``)."""
    path = Path(where).expanduser()
    if not path.is_file():
        raise StorageError(f"the study store {where!r} does not exist")
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the study store {where!r}: {exc}") from None
    try:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            # A WAL store in a folder nobody may write (no -shm file can be made): nothing can change it
            # there, so read it as immutable.
            if not _read_only_failure(str(exc)) or os.access(path.resolve().parent, os.W_OK):
                raise
            conn.close()
            conn = sqlite3.connect(
                uri.replace("?mode=ro", "?immutable=1"),
                uri=True,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("PRAGMA query_only = ON")
        if "hpmagic_meta" not in tables:
            raise StorageError(f"{where!r} is not an hpmagic study store")
        row = conn.execute("SELECT value FROM hpmagic_meta WHERE key = 'schema_version'").fetchone()
        version = _schema_version(row[0] if row else None, where)
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{where!r} was written by a newer hpmagic (store schema {version}, this one reads {SCHEMA_VERSION})"
            )
        if version < 1:
            raise StorageError(f"{where!r} has no valid hpmagic schema version")
    except StorageError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _explain(exc, where) from None
    return conn


def _like_escape(text: str) -> str:
    return text.replace("%", "_").replace("[", "_")


def _is_variant(name: str, base: str) -> bool:
    if not (name.startswith(base + " (") and name.endswith(")")):
        return False
    return name[len(base) + 2 : -1].isdigit()


def _record(row: Mapping[str, Any]) -> StudyRecord:
    """A study row, checked: a damaged one raises ValueError/TypeError (``Storage._record`` names the study)."""
    name, direction, state = row["name"], row["direction"], row["state"]
    if not isinstance(name, str) or not isinstance(state, str) or not isinstance(row["strategy"], str):
        raise TypeError("name, state and strategy must be text")
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"unknown direction {direction!r}")
    space, options = _loads(row["space"]), _loads(row["options"])
    if not isinstance(space, list) or not all(isinstance(e, dict) for e in space):
        raise TypeError("its search space is not a list of dimensions")
    if not isinstance(options, dict):
        raise TypeError("its options are not a mapping")
    if not is_int(row["seed"]) or not all(is_real(row[k]) for k in ("created_at", "updated_at")):
        raise TypeError("seed and times must be numbers")
    if row["source"] is not None and not isinstance(row["source"], str):
        raise TypeError("its source must be text")
    # Columns of schema 4: absent from an older store opened read-only, NULL for a study of one objective.
    names = _texts_of(row.get("objective_names"), "objective names") or ("value",)
    directions = _texts_of(row.get("directions"), "directions") or (direction,) * len(names)
    if len(directions) != len(names) or any(d not in ("minimize", "maximize") for d in directions):
        raise ValueError(f"its directions {list(directions)!r} do not match its objectives {list(names)!r}")
    primary = row.get("primary_index")
    primary = 0 if primary is None else primary
    if not is_int(primary) or not 0 <= primary < len(names):
        raise ValueError(f"its primary objective index {primary!r} is not one of its objectives")
    constraints = _texts_of(row.get("constraints"), "constraints") or ()
    return StudyRecord(
        id=row["id"],
        name=name,
        direction=direction,
        strategy=row["strategy"],
        seed=row["seed"],
        state=state,
        space=space,
        source=row["source"],
        options=options,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        objective_names=names,
        directions=directions,
        primary_index=int(primary),
        constraints=constraints,
    )


def _trial_of(r: Mapping[str, Any], space: Space | None) -> Trial:
    """A trial row, checked (ValueError/TypeError on damage; ``load_trials`` names the study and trial)."""
    params, intermediate, user_attrs = _loads(r["params"]), _loads(r["intermediate"]), _loads(r["user_attrs"])
    if not isinstance(params, dict) or not isinstance(user_attrs, dict) or not isinstance(intermediate, list):
        raise TypeError("params and user_attrs must be mappings, intermediate a list")
    if not is_int(r["number"]):
        raise TypeError(f"number {r['number']!r} is not an integer")
    value = r["value"]
    if value is not None and (not is_real(value) or not math.isfinite(value)):
        raise TypeError(f"value {value!r} is not a finite number")
    for key in ("started_at", "finished_at"):
        if r[key] is not None and not is_real(r[key]):
            raise TypeError(f"{key} {r[key]!r} is not a time")
    if r["started_at"] is None:
        raise TypeError("started_at is missing")
    for key in ("error", "traceback"):
        if r[key] is not None and not isinstance(r[key], str):
            raise TypeError(f"{key} is not text")
    reports = []
    for pair in intermediate:
        if not isinstance(pair, list) or len(pair) != 2 or not is_real(pair[0]) or not is_real(pair[1]):
            raise TypeError(f"intermediate report {pair!r} is not a [step, value] pair")
        reports.append((int(pair[0]), float(pair[1])))
    return Trial(
        number=r["number"],
        params=decode_params(params, space),
        state=TrialState(r["state"]),  # ValueError for an unknown state
        value=None if value is None else float(value),
        started_at=float(r["started_at"]),
        finished_at=None if r["finished_at"] is None else float(r["finished_at"]),
        error=r["error"],
        traceback=r["traceback"],
        stdout=r["stdout"] if isinstance(r["stdout"], str) else "",
        stderr=r["stderr"] if isinstance(r["stderr"], str) else "",
        intermediate=reports,
        user_attrs=user_attrs,
        trial_id=r["id"],
        values=_numbers_of(r.get("values"), "values"),
        violations=_numbers_of(r.get("violations"), "violations"),
    )


def _loads(text: Any) -> Any:
    """``json.loads`` for a stored column: text only, and a ValueError for damage (absurd nesting included)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise TypeError(f"expected JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _schema_version(value: Any, where: str) -> int:
    text = str(value).strip() if value is not None else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise StorageError(
            f"{where!r} has no valid hpmagic schema version (found {str(value)[:40]!r}); it was left untouched"
        )
    return int(text)


def _read_only_failure(text: str) -> bool:
    text = text.lower()
    return "readonly" in text or "read-only" in text or "read only" in text


def _disk_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        code == getattr(sqlite3, "SQLITE_FULL", 13)
        or "disk is full" in str(exc)
        or "database or disk is full" in str(exc)
    )


def _locked(exc: BaseException) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _same_config(stored_text: Any, encoded: Mapping[str, Any]) -> bool:
    """Whether a stored trial's params hold every value of ``encoded`` (a proposal for the static space)."""
    try:
        stored = _loads(stored_text)
    except (ValueError, TypeError, RecursionError):
        return False
    return isinstance(stored, dict) and all(k in stored and stored[k] == v for k, v in encoded.items())


_UPDATE_TRIAL = (
    "UPDATE trials SET state = ?, params = ?, value = ?, started_at = ?, finished_at = ?, error = ?, "
    'traceback = ?, stdout = ?, stderr = ?, intermediate = ?, user_attrs = ?, "values" = ?, violations = ?, '
    "heartbeat = ? WHERE study_id = ? AND number = ?"
)


class _Heartbeat:
    """Refreshes ``trials.heartbeat`` of this connection's running trials every ``HEARTBEAT_INTERVAL`` seconds.

    A daemon thread that runs only while some trial is running, and holds the store weakly (a forgotten Storage is
    still collected). Another process that resumes the study leaves a trial with a fresh heartbeat alone.
    """

    def __init__(self, store: Storage) -> None:
        self._store = weakref.ref(store)
        self.ids: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def add(self, trial_id: int) -> None:
        with self._lock:
            self.ids.add(trial_id)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="hpmagic-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self.ids.discard(trial_id)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(HEARTBEAT_INTERVAL):
            with self._lock:
                ids = sorted(self.ids)
                if not ids:
                    self._thread = None
                    return
            store = self._store()
            if store is None:
                return
            try:
                store._beat(ids)
            except Exception:  # noqa: BLE001 - a busy or closed store: the next beat tries again
                pass
            del store
        with self._lock:
            self._thread = None


# -- JSON encoding of parameters and spaces ------------------------------------------------------------------------

_JSON_SCALARS = (str, int, float, bool, type(None))


def _is_plain(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return isinstance(value, list) and all(_is_plain(v) for v in value)
    return False


def encode_params(params: Mapping[str, Any], space: Space | None) -> dict[str, Any]:
    """JSON-ready params; a choice that JSON cannot hold is stored as its index, its key and its repr."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        value = _py(value)
        if _is_plain(value) and not isinstance(value, dict):
            out[name] = value
            continue
        dim = space.get(name) if space is not None else None
        index = dim.index(value) if isinstance(dim, Categorical) else None
        out[name] = {"$choice": index, "$key": choice_key(value), "$repr": _safe_repr(value)}
    return out


def decode_params(stored: Mapping[str, Any], space: Space | None) -> dict[str, Any]:
    """Inverse of ``encode_params``: stored choices become the space's choice objects again, when it has them.

    A stored index is checked against the stored key, so a cell whose choices were reordered since still maps
    each trial to the right choice; a plain value (``0.1`` stored for ``np.float64(0.1)``) becomes the space's own
    choice object, so strategies warm-started from a resumed study recognise it.
    """
    out: dict[str, Any] = {}
    for name, value in stored.items():
        dim = space.get(name) if space is not None else None
        if isinstance(value, dict) and "$choice" in value:
            out[name] = _stored_choice(value, dim)
        elif isinstance(dim, Categorical) and not isinstance(value, dict):
            i = dim.index(value)
            out[name] = dim.choices[i] if i is not None else value
        else:
            out[name] = value
    return out


def _stored_choice(value: Mapping[str, Any], dim: Dimension | None) -> Any:
    shown = value.get("$repr")
    if not isinstance(dim, Categorical):
        return shown
    i, key = value.get("$choice"), value.get("$key")
    n = len(dim.choices)
    if is_int(i) and 0 <= i < n and (key is None or choice_key(dim.choices[i]) == key):
        return dim.choices[i]
    if isinstance(key, str):
        for c in dim.choices:
            if choice_key(c) == key:
                return c
    if key is None and is_int(i) and 0 <= i < n:
        return dim.choices[i]
    return shown


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a repr that raises must not lose the trial
        return f"<{type(value).__name__} object>"


def _py(value: Any) -> Any:
    """NumPy scalars to Python scalars."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        try:
            return item()
        except Exception:  # noqa: BLE001
            return value
    return value


def _jsonable(value: Any) -> Any:
    value = _py(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, _JSON_SCALARS):
        return value
    return repr(value)


def space_to_json(space: Space) -> list[dict[str, Any]]:
    """A description of the static space, for display and for checking a resumed study."""
    out: list[dict[str, Any]] = []
    for name, dim in space.items():
        entry: dict[str, Any] = {"name": name, "kind": dim.kind}
        if isinstance(dim, (Float, Int)):
            entry.update(low=dim.low, high=dim.high, log=dim.log)
        elif isinstance(dim, Categorical):
            entry["choices"] = [c if _is_plain(_py(c)) else repr(c) for c in (_py(c) for c in dim.choices)]
        entry["default"] = _jsonable(dim.default)
        out.append(entry)
    return out


def space_from_json(entries: list[dict[str, Any]]) -> Space:
    """Rebuild a space from ``space_to_json`` (choices that were objects come back as their repr)."""
    dims: dict[str, Dimension] = {}
    for e in entries:
        if e["kind"] == "float":
            dims[e["name"]] = Float(e["low"], e["high"], e["log"], name=e["name"])
        elif e["kind"] == "int":
            dims[e["name"]] = Int(e["low"], e["high"], e["log"], name=e["name"])
        else:
            dims[e["name"]] = Categorical(tuple(e["choices"]), name=e["name"])
    return Space(dims)
