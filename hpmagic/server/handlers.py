"""The JSON routes under ``{base_url}/hpmagic/``: every one an authenticated, authorized ``APIHandler``.

Reads go through ``StoreIndex`` (read-only connections); the only writes are the user's control, rename and delete
requests, each through a short-lived ``Storage``. Store paths from the client are relative to the server's root and
confined to it. Live views long-poll: a request with ``since=TOKEN`` waits (up to ``timeout`` seconds) until the
answer would differ, so a running study's rows update within about half a second without reloading anything.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from hpmagic.errors import StorageError
from hpmagic.server.plots import KINDS, compare_svg, study_svg
from hpmagic.server.stores import PathError, StoreEntry, StoreIndex
from hpmagic.storage import CONTROL_ACTIONS, Storage, space_from_json
from hpmagic.study import Study

__all__ = ["ROUTES"]

POLL_INTERVAL = 0.25  # seconds between checks while a long-poll waits
MAX_WAIT = 30.0  # the longest a long-poll waits before answering "no change"
MAX_PAGE = 500  # trials per page at most

# Plots run one at a time off the event loop (matplotlib figures are not shared between threads).
_PLOT_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpmagic-plot")
_PLOT_CACHE: dict[tuple[Any, ...], bytes] = {}
_PLOT_CACHE_SIZE = 64


def _finite(x: Any) -> Any:
    return x if not isinstance(x, float) or math.isfinite(x) else None


class HpmagicHandler(APIHandler):
    """Shared helpers: the store index, argument checking, errors as JSON."""

    auth_resource = "hpmagic"
    _gone = False

    def on_connection_close(self) -> None:
        """The client went away (a long-poll cancelled): stop waiting for it."""
        self._gone = True
        super().on_connection_close()

    @property
    def index(self) -> StoreIndex:
        return self.settings["hpmagic_index"]

    def store_arg(self, name: str = "store") -> str:
        return self.get_argument(name)

    def int_arg(self, name: str, default: int | None = None) -> int:
        raw = self.get_argument(name, None if default is None else str(default))
        try:
            return int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise web.HTTPError(400, f"{name} must be an integer") from None

    def entry(self, relative: str) -> StoreEntry:
        try:
            entry = self.index.entry(relative)
        except PathError as exc:
            raise web.HTTPError(403, str(exc)) from None
        except FileNotFoundError:
            raise web.HTTPError(404, f"no study store at {relative!r}") from None
        if entry.error is not None:
            raise web.HTTPError(409, entry.error)
        return entry

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body must be JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    async def wait_for(self, current: Callable[[], str], since: str | None, timeout: float) -> str:
        """Return the current marker at once if it differs from ``since``, else when it changes or time runs out."""
        deadline = time.monotonic() + min(max(timeout, 0.0), MAX_WAIT)
        marker = current()
        while since is not None and marker == since and time.monotonic() < deadline and not self._gone:
            await asyncio.sleep(POLL_INTERVAL)
            marker = current()
        return marker


class StudiesHandler(HpmagicHandler):
    """GET hpmagic/studies[?since=TOKEN&timeout=S&store=EXTRA...]: every store and its studies."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        for extra in self.get_arguments("store"):
            try:
                self.index.pin(extra)
            except PathError as exc:
                raise web.HTTPError(403, str(exc)) from None
        since = self.get_argument("since", None)
        timeout = float(self.get_argument("timeout", "0") or 0)
        loop = asyncio.get_running_loop()

        def current() -> str:
            self.index.refresh()
            return self.index.token

        await loop.run_in_executor(None, lambda: self.index.refresh(force=since is None))
        await self.wait_for(current, since, timeout)
        self.finish(json.dumps(self.index.snapshot(), default=_finite))


def _load(entry: StoreEntry, study_id: int) -> Study:
    """The study as a read-only Study object (what ``hpmagic.plot`` and the summaries read)."""
    assert entry.storage is not None
    record = entry.storage.get_study(study_id)
    if record is None:
        raise web.HTTPError(404, f"no study {study_id} in {entry.rel}")
    space = space_from_json(record.space)
    study = Study(record, entry.storage, space, entry.storage.load_trials(record.id, space))
    return study


class StudyHandler(HpmagicHandler):
    """GET hpmagic/study?store=PATH&id=N[&since=MARKER&timeout=S]: a study's header, best trial, space, source."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        rel, study_id = self.store_arg(), self.int_arg("id")
        since = self.get_argument("since", None)
        timeout = float(self.get_argument("timeout", "0") or 0)
        entry = self.entry(rel)

        def current() -> str:
            return self.index.study_marker(rel, study_id)

        marker = await self.wait_for(current, since, timeout)
        entry = self.entry(rel)
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, _study_answer, entry, study_id)
        answer["marker"] = marker
        self.finish(json.dumps(answer, default=str))


def _study_answer(entry: StoreEntry, study_id: int) -> dict[str, Any]:
    assert entry.storage is not None
    record = entry.storage.get_study(study_id)
    if record is None:
        raise web.HTTPError(404, f"no study {study_id} in {entry.rel}")
    summary = next(iter(entry.storage.study_summaries(study_id=study_id)), {})
    # The index's summaries hold the notebook relative to the server's root (never an absolute path of the kernel's).
    summary["notebook"] = next((s.get("notebook") for s in entry.studies if s["id"] == study_id), None)
    best = None
    if summary.get("best_value") is not None:
        order = "DESC" if record.direction == "maximize" else "ASC"
        _, rows = entry.storage.trial_page(
            study_id, sort="value", descending=order == "DESC", limit=1, feasible_only=True
        )
        if rows:
            best = rows[0]
    gap = None
    if best is not None and best.get("test") is not None and best.get("value") is not None:
        gap = best["test"] - best["value"]
    options = record.options if isinstance(record.options, dict) else {}
    found = options.get("notes")
    notes: list[Any] = found if isinstance(found, list) else []
    return {
        "store": entry.rel,
        "id": record.id,
        "name": record.name,
        "state": record.state,
        "direction": record.direction,
        "strategy": record.strategy,
        "seed": record.seed,
        "source": record.source,
        "options": options,
        "space": record.space,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "summary": summary,
        "best": best,
        "heldout_gap": _finite(gap),
        "notes": [str(n) for n in notes],
        "control": entry.storage.get_control(study_id),
    }


class TrialsHandler(HpmagicHandler):
    """GET hpmagic/trials?store=PATH&id=N&sort=KEY&order=asc|desc&offset=K&limit=M: one sorted page of trials."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        entry = self.entry(self.store_arg())
        study_id = self.int_arg("id")
        sort = self.get_argument("sort", "number")
        descending = self.get_argument("order", "asc") == "desc"
        offset = max(0, self.int_arg("offset", 0))
        limit = min(MAX_PAGE, max(1, self.int_arg("limit", 100)))
        assert entry.storage is not None
        try:
            total, rows = entry.storage.trial_page(
                study_id, sort=sort, descending=descending, offset=offset, limit=limit
            )
        except StorageError as exc:
            raise web.HTTPError(400, str(exc)) from None
        self.finish(json.dumps({"total": total, "offset": offset, "rows": rows}, default=str))


class TrialHandler(HpmagicHandler):
    """GET hpmagic/trial?store=PATH&id=N&number=K: one trial's captured output, traceback and reports."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        entry = self.entry(self.store_arg())
        assert entry.storage is not None
        detail = entry.storage.trial_detail(self.int_arg("id"), self.int_arg("number"))
        if detail is None:
            raise web.HTTPError(404, "no such trial")
        self.finish(json.dumps(detail, default=str))


class PlotHandler(HpmagicHandler):
    """GET hpmagic/plot?store=PATH&id=N&kind=convergence|parallel|scatter|curves[&param=P]: an SVG image."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        entry = self.entry(self.store_arg())
        study_id = self.int_arg("id")
        kind = self.get_argument("kind", "convergence")
        param = self.get_argument("param", None)
        if kind not in KINDS:
            raise web.HTTPError(400, f"kind must be one of {', '.join(KINDS)}")
        key = (entry.rel, study_id, self.index.study_marker(entry.rel, study_id), kind, param)
        svg = _PLOT_CACHE.get(key)
        if svg is None:

            def draw() -> bytes:
                return study_svg(_load(entry, study_id), kind, param)

            try:
                svg = await asyncio.get_running_loop().run_in_executor(_PLOT_POOL, draw)
            except ValueError as exc:
                raise web.HTTPError(400, str(exc)) from None
            if len(_PLOT_CACHE) >= _PLOT_CACHE_SIZE:
                _PLOT_CACHE.pop(next(iter(_PLOT_CACHE)))
            _PLOT_CACHE[key] = svg
        self.set_header("Cache-Control", "no-store")
        self.finish(svg, set_content_type="image/svg+xml")


class CompareHandler(HpmagicHandler):
    """GET hpmagic/compare?study=PATH::ID&study=PATH::ID...: their best-so-far curves overlaid, as SVG."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        wanted = self.get_arguments("study")
        if not 1 <= len(wanted) <= 12:
            raise web.HTTPError(400, "compare takes 1 to 12 study=PATH::ID arguments")
        chosen: list[tuple[StoreEntry, int]] = []
        for item in wanted:
            rel, sep, raw_id = item.rpartition("::")
            if not sep or not raw_id.isdigit():
                raise web.HTTPError(400, f"study must be PATH::ID, got {item!r}")
            chosen.append((self.entry(rel), int(raw_id)))

        def draw() -> bytes:
            loaded = []
            for entry, study_id in chosen:
                study = _load(entry, study_id)
                label = study.name if len({e.rel for e, _ in chosen}) == 1 else f"{study.name} ({entry.rel})"
                loaded.append((label, study))
            return compare_svg(loaded)

        svg = await asyncio.get_running_loop().run_in_executor(_PLOT_POOL, draw)
        self.set_header("Cache-Control", "no-store")
        self.finish(svg, set_content_type="image/svg+xml")


class _WriteHandler(HpmagicHandler):
    """POST helpers: open the store for writing just for this request (the index keeps reading it read-only)."""

    def write_store(self, data: dict[str, Any], action: Callable[[Storage, int], Any]) -> Any:
        rel = data.get("store")
        study_id = data.get("id")
        if not isinstance(rel, str) or not isinstance(study_id, int) or isinstance(study_id, bool):
            raise web.HTTPError(400, "the body needs store (a path) and id (an integer)")
        entry = self.entry(rel)
        try:
            store = Storage(entry.path)
        except StorageError as exc:
            raise web.HTTPError(409, str(exc)) from None
        try:
            if store.get_study(study_id) is None:
                raise web.HTTPError(404, f"no study {study_id} in {entry.rel}")
            result = action(store, study_id)
        except StorageError as exc:
            raise web.HTTPError(409, str(exc)) from None
        finally:
            store.close()
        self.index.refresh(force=True)
        return result


class ControlHandler(_WriteHandler):
    """POST hpmagic/control {store, id, action: stop|pause|resume|null}: a request the running loop obeys."""

    @web.authenticated
    @authorized
    def post(self) -> None:
        data = self.body()
        action = data.get("action")
        if action is not None and action not in CONTROL_ACTIONS:
            raise web.HTTPError(400, f"action must be one of {', '.join(CONTROL_ACTIONS)} or null")
        self.write_store(data, lambda store, sid: store.set_control(sid, action))
        self.finish(json.dumps({"ok": True, "action": action}))


class RenameHandler(_WriteHandler):
    """POST hpmagic/rename {store, id, name}."""

    @web.authenticated
    @authorized
    def post(self) -> None:
        data = self.body()
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise web.HTTPError(400, "name must be a non-empty string")
        self.write_store(data, lambda store, sid: store.rename_study(sid, name))
        self.finish(json.dumps({"ok": True, "name": name.strip()}))


class DeleteHandler(_WriteHandler):
    """POST hpmagic/delete {store, id}: delete a study that is not running."""

    @web.authenticated
    @authorized
    def post(self) -> None:
        self.write_store(self.body(), lambda store, sid: store.delete_study(sid))
        self.finish(json.dumps({"ok": True}))


ROUTES: list[tuple[str, type[HpmagicHandler]]] = [
    ("studies", StudiesHandler),
    ("study", StudyHandler),
    ("trials", TrialsHandler),
    ("trial", TrialHandler),
    ("plot", PlotHandler),
    ("compare", CompareHandler),
    ("control", ControlHandler),
    ("rename", RenameHandler),
    ("delete", DeleteHandler),
]
