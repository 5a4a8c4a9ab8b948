"""Server tests: a real Jupyter server with the hpmagic extension (pytest-jupyter), over stores of real studies.

The stores are made once per session by running real studies with ``hpmagic.optimize`` and copied into each test's
server root, so every test can change its own copy.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 - the jp_* fixtures and the async test runner

import hpmagic
from hpmagic import Storage, tune

ROUTES_GET = ["studies", "study", "trials", "trial", "plot", "compare"]
ROUTES_POST = ["control", "rename", "delete"]


def _quadratic(p: dict[str, Any]) -> float:
    if p["opt"] == "bad":
        raise ValueError("this optimizer always fails")
    print(f"trying x={p['x']:.3f}")
    tune.report(p["x"] ** 2 + 1, step=1)
    tune.report(p["x"] ** 2, step=2)
    return (p["x"] - 1.0) ** 2 + 0.1 * p["n"]


def make_store(path: Path, studies: dict[str, int], direction: str = "minimize") -> Path:
    """A store at ``path`` with one real random-search study per (name, number of trials)."""
    store = Storage(path)
    try:
        for i, (name, n) in enumerate(studies.items()):
            hpmagic.optimize(
                _quadratic,
                {"x": tune.uniform(-3, 3), "n": tune.int(1, 4), "opt": tune.choice(["adam", "sgd", "bad"])},
                strategy="random",
                n_trials=n,
                seed=i,
                direction=direction,
                storage=store,
                name=name,
                max_failures=None,
            )
    finally:
        store.close()
    return path


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Stores made by real studies, once: ``main`` (two studies) and ``other`` (one, maximised)."""
    base = tmp_path_factory.mktemp("stores")
    return {
        "main": make_store(base / "main.db", {"alpha": 12, "beta": 6}),
        "other": make_store(base / "other.db", {"gamma": 5}, direction="maximize"),
    }


@pytest.fixture
def jp_server_config() -> Any:
    """The server with hpmagic's extension enabled (as the installed jupyter-config file does)."""
    from traitlets.config import Config

    return Config({"ServerApp": {"jpserver_extensions": {"hpmagic.server": True}}})


@pytest.fixture
def root(jp_root_dir: Path, store_templates: dict[str, Path]) -> Path:
    """The server's root with ``hpmagic.db`` (main) next to a notebook and ``sub/hpmagic.db`` (other)."""
    (jp_root_dir / "sub").mkdir()
    shutil.copy(store_templates["main"], jp_root_dir / "hpmagic.db")
    shutil.copy(store_templates["other"], jp_root_dir / "sub" / "hpmagic.db")
    (jp_root_dir / "notebook.ipynb").write_text("{}")
    return jp_root_dir


def study_id(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id FROM studies WHERE name = ?", (name,)).fetchone()[0]
    finally:
        conn.close()


def url(jp_base_url: str, route: str, query: list[tuple[str, str]] | None = None) -> str:
    """A route's URL path under the base URL, with a query that may repeat keys."""
    return f"{jp_base_url}hpmagic/{route}" + ("?" + urllib.parse.urlencode(query) if query else "")


def decode(response: Any) -> Any:
    return json.loads(response.body)
