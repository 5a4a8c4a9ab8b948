"""Browser tests of the JupyterLab extension: the browser and JupyterLab fixtures of tests/browser, reused.

A JupyterLab without the built extension (no ``hpmagic/labextension`` build, or the server extension not enabled)
fails these tests rather than skipping them: a missing build must never look like a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import conftest as _browser
from tests.browser.conftest import JupyterLab

# The fixtures and the report hook of the browser tests, registered for this folder too.
browser = _browser.browser
jupyter_lab = _browser.jupyter_lab
page = _browser.page
pytest_runtest_makereport = _browser.pytest_runtest_makereport


@pytest.fixture(scope="session")
def lab(jupyter_lab: JupyterLab) -> Iterator[JupyterLab]:
    """The JupyterLab server, checked to serve hpmagic's front end and routes."""
    extensions = jupyter_lab.api("/lab/api/extensions") or []
    names = {e.get("name") for e in extensions} if isinstance(extensions, list) else set()
    if "hpmagic" not in names:
        pytest.fail(
            f"JupyterLab does not list the hpmagic extension ({sorted(n for n in names if n)}): build it with "
            "pip install -e . or make labextension",
            pytrace=False,
        )
    answer = jupyter_lab.api("/hpmagic/studies")
    assert "stores" in answer, answer
    yield jupyter_lab


def open_studies_panel(page: Any) -> Any:
    """Show the Studies sidebar and return its locator."""
    page.evaluate("() => window.jupyterapp.commands.execute('hpmagic:open-studies')")
    panel = page.locator("#hpmagic-studies")
    panel.wait_for(state="visible")
    return panel


def study_row(page: Any, name: str) -> Any:
    return page.locator(f"#hpmagic-studies tr.jp-hpmagic-studyRow[data-study={_css_string(name)}]")


def _css_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
