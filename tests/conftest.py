"""Shared test set-up: one BLAS/OpenMP thread everywhere (kernels started by tests inherit it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from IPython.testing.globalipapp import start_ipython

# On 2 cores, multithreaded BLAS next to another busy process runs hundreds of times slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Stores the tests write are remembered for the JupyterLab extension (hpmagic.known_stores): in a folder of this run,
# never in the user's own list.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="hpmagic-tests-")

# Tests assert what code does, not how fast: no property test fails because one example was slow on a busy machine
# (Hypothesis' default is a 200 ms deadline per example). Speed is measured in benchmarks/.
settings.register_profile("hpmagic", deadline=None)
settings.load_profile("hpmagic")


@pytest.fixture
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test in a fresh empty working folder (where hpmagic.db is created by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def _shell():
    return start_ipython()


@pytest.fixture
def ip(_shell, tmp_path, monkeypatch):
    """The shell, in a temporary working folder, with ``%load_ext hpmagic`` done and undone."""
    monkeypatch.chdir(tmp_path)
    _shell.run_line_magic("load_ext", "hpmagic")
    yield _shell
    _shell.run_line_magic("unload_ext", "hpmagic")
    _shell.run_line_magic("reset", "-f")
    _shell.config.pop("TuneMagics", None)


@pytest.fixture(scope="module")
def playwright_session() -> Iterator[Any]:
    """Playwright for one test module. A sync Playwright runs an asyncio loop on this thread while it is open: a
    second one cannot start then, and the Jupyter server tests cannot run their own loop, so each browser module
    opens one and closes it when it ends. Skipped without Chromium or playwright, except in CI where that fails."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = None
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        missing = "Chromium is not installed (make browser-deps installs Debian's package)"
    elif sync_playwright is None:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run the browser tests", pytrace=False)
        pytest.skip(missing)
    with sync_playwright() as pw:
        yield pw
