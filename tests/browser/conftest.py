"""Real-browser fixtures: a JupyterLab server on localhost and a headless Chromium page driven by Playwright.

The browser is Debian's Chromium (``apt-get install chromium``; ``make browser-deps`` does it), launched by path:
Playwright's own browser download cannot be reached from these machines. Without Chromium the browser tests are
skipped on a developer's machine and fail in CI (``CI`` set), so that a CI run cannot pass without them.

JupyterLab runs with a fresh workspace, user-settings and app-settings folder each session, so nothing of a
developer's own set-up (or an earlier run's layout) leaks in, and with its network pop-ups (news, update check)
turned off. Its kernels are the virtualenv's ipykernel (``JUPYTER_PREFER_ENV_PATH=1``).

Screenshots go to ``test-artifacts/browser/`` in the repository root (git-ignored); a failing test leaves one
named after itself.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - playwright is a test dependency; skipped (or failed in CI) below
    sync_playwright = None

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts" / "browser"
TOKEN = "hpmagic-browser-test-token"

# Chromium flags measured to work in a root container with a small /dev/shm and no GPU (the CI machines).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}
_WORKSPACE_NUMBERS = itertools.count(1)

SERVER_START_TIMEOUT = 90.0  # seconds; JupyterLab starts in about 3 s here, more on a loaded CI machine
NOTEBOOK_OPEN_TIMEOUT = 60_000  # milliseconds, as Playwright counts
KERNEL_IDLE_TIMEOUT = 60_000

# Settings that every user of this JupyterLab gets as defaults: no news feed, no update check, no toasts over the
# cells we click.
LAB_SETTING_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


# --------------------------------------------------------------------------------------------------------------------
# The JupyterLab server


@dataclass(frozen=True)
class JupyterLab:
    """A running JupyterLab server: its base URL (no trailing slash), root folder and log file."""

    base_url: str
    root_dir: Path
    log_path: Path

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API with the token and return the decoded JSON answer (None if empty)."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, n_chars: int = 3000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {proc.returncode} before answering:\n"
                f"{log_path.read_text(errors='replace')[-3000:]}"
            )
        try:
            request = urllib.request.Request(f"{base_url}/api/status", headers={"Authorization": f"token {TOKEN}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.25)
    raise RuntimeError(
        f"JupyterLab did not answer /api/status within {SERVER_START_TIMEOUT:.0f} s (last error: {last_error}):\n"
        f"{log_path.read_text(errors='replace')[-3000:]}"
    )


def _stop_server(proc: subprocess.Popen[bytes], lab: JupyterLab | None) -> None:
    """Shut the kernels down through the API (they run in sessions of their own), then the server itself."""
    if lab is not None and proc.poll() is None:
        try:
            for kernel in lab.api("/api/kernels"):
                lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, OSError, ValueError):
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _check_overrides_applied(lab: JupyterLab) -> None:
    """The settings overrides must reach the front end (as the schemas' defaults), or pop-ups may cover cells."""
    for plugin, values in LAB_SETTING_OVERRIDES.items():
        schema = lab.api(f"/lab/api/settings/{plugin}")["schema"]["properties"]
        defaults = {key: schema[key].get("default") for key in values}
        if defaults != values:
            raise RuntimeError(f"JupyterLab ignored the settings overrides for {plugin}: {defaults} != {values}")


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """Start JupyterLab (the virtualenv's) on a free localhost port; yield it; stop it and its kernels."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root_dir = base / "root"
    app_settings_dir = base / "app-settings"
    config_dir = base / "config"
    for folder in (root_dir, app_settings_dir, config_dir, base / "workspaces", base / "user-settings"):
        folder.mkdir()
    # overrides.json in the app-settings folder is read as the default of every setting; a folder of our own keeps
    # the virtualenv untouched (its share/jupyter/lab/settings/overrides.json would work as well).
    (app_settings_dir / "overrides.json").write_text(json.dumps(LAB_SETTING_OVERRIDES, indent=2))
    # Server side of the same: no news feed URL, an update checker that never asks the network.
    config_file = base / "jupyter_lab_config.json"
    config_file.write_text(
        json.dumps({"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}})
    )

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # The "python3" kernel spec must be the virtualenv's ipykernel, not one in the user's folders.
        "JUPYTER_PREFER_ENV_PATH": "1",
        # A config folder of our own: a developer's ~/.jupyter settings stay out of the test.
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={TOKEN}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        f"--LabApp.user_settings_dir={base / 'user-settings'}",
        f"--LabApp.app_settings_dir={app_settings_dir}",
        # window.jupyterapp, to run JupyterLab commands (run all cells, kernel state) without hunting menus.
        "--LabApp.expose_app_in_browser=True",
        # No calls to the package index from the extension manager.
        "--LabApp.extension_manager=readonly",
        f"--config={config_file}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI runs as root
        cmd.append("--allow-root")
    log_path = base / "jupyterlab.log"
    lab: JupyterLab | None = None
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            _wait_for_server(proc, base_url, log_path)
            lab = JupyterLab(base_url=base_url, root_dir=root_dir, log_path=log_path)
            _check_overrides_applied(lab)
            yield lab
        finally:
            _stop_server(proc, lab)


# --------------------------------------------------------------------------------------------------------------------
# The browser


def _chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright: Any, **options: Any) -> Any:
    """Debian's headless Chromium with the arguments measured to work here."""
    return playwright.chromium.launch(executable_path=_chromium_path(), headless=True, args=CHROMIUM_ARGS, **options)


@pytest.fixture(scope="module")
def browser(playwright_session: Any) -> Iterator[Any]:
    """Debian's headless Chromium under Playwright."""
    browser = launch_chromium(playwright_session)
    try:
        yield browser
    finally:
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the test item, so the page fixture can screenshot a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Any, jupyter_lab: JupyterLab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context and page (1400x1000) that records console errors; screenshotted when a test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.hpmagic_console_errors = errors  # read by console_errors()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                screenshot(page, f"FAILED-{request.node.name}")
            except Exception:  # noqa: BLE001 - a screenshot must not hide the test's own failure
                pass
        context.close()
        # The test's kernels go with it (tests run one after the other), so kernels do not pile up in the session.
        try:
            for kernel in jupyter_lab.api("/api/kernels"):
                jupyter_lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, OSError, ValueError):
            pass


# --------------------------------------------------------------------------------------------------------------------
# Helpers


def console_errors(page: Any) -> str:
    """The browser console's errors so far, one a line, for assertion messages."""
    errors = getattr(page, "hpmagic_console_errors", [])
    return "\n".join(errors[-30:]) if errors else "(no console errors)"


def diagnostics(page: Any, lab: JupyterLab | None = None) -> str:
    """Console errors and the end of the server log, to attach to an assertion message."""
    text = f"\n--- browser console errors ---\n{console_errors(page)}"
    if lab is not None:
        text += f"\n--- JupyterLab log (end) ---\n{lab.log_tail()}"
    return text


def screenshot(page: Any, name: str) -> Path:
    """Save a PNG of the page under test-artifacts/browser/ and return its path."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path))
    return path


def write_notebook(root_dir: Path, name: str, cells: list[str]) -> str:
    """Write a notebook of code cells (python3 kernel) under root_dir and return its path relative to it."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, root_dir / name)
    return name


def wait_until(
    condition: Callable[[], Any], timeout: float, message: str | Callable[[], str], interval: float = 0.2
) -> Any:
    """Poll condition() until it returns something truthy (returned) or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)


def kernel_status(page: Any) -> str | None:
    """The current notebook's kernel status as JupyterLab sees it ("idle", "busy", ...), None if unknown."""
    return page.evaluate(
        """() => {
            const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const kernel = widget && widget.sessionContext && widget.sessionContext.session
                && widget.sessionContext.session.kernel;
            return kernel ? kernel.status : null;
        }"""
    )


def wait_for_kernel_idle(page: Any, timeout: float = KERNEL_IDLE_TIMEOUT / 1000) -> None:
    """Wait until the notebook's kernel is started and idle."""
    wait_until(
        lambda: kernel_status(page) == "idle",
        timeout,
        lambda: f"kernel not idle after {timeout:.0f} s (status {kernel_status(page)!r}){diagnostics(page)}",
    )


def open_notebook(page: Any, base_url: str, path: str) -> None:
    """Open an existing notebook (path relative to the server's root) and wait until its kernel is idle.

    Each call uses a workspace of its own, so notebooks opened by earlier tests are not restored next to it.
    """
    workspace = f"test-{next(_WORKSPACE_NUMBERS)}"
    page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{path}?token={TOKEN}", timeout=NOTEBOOK_OPEN_TIMEOUT)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible", timeout=NOTEBOOK_OPEN_TIMEOUT)
    page.wait_for_function(
        """(path) => {
            const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return widget && widget.context && widget.context.path === path && widget.context.isReady
                && widget.content && widget.content.activeCell;
        }""",
        arg=path,
        timeout=NOTEBOOK_OPEN_TIMEOUT,
    )
    wait_for_kernel_idle(page)


def cell(page: Any, index: int) -> Any:
    """The locator of the index-th cell of the notebook on screen."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def run_cell(page: Any, index: int) -> None:
    """Run one cell as a person does: select it (command mode) and press Shift+Enter.

    Checks that the cell started (its prompt changed) and presses again if the key went nowhere (focus still
    elsewhere while JupyterLab settles).
    """
    before = execution_count(page, index)
    for _attempt in range(3):
        cell(page, index).locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
        page.keyboard.press("Shift+Enter")
        try:
            wait_until(lambda: execution_count(page, index) != before, 5, "")
            return
        except AssertionError:
            continue
    raise AssertionError(f"cell {index} did not start after Shift+Enter (prompt [{before}])" + diagnostics(page))


def run_all(page: Any) -> None:
    """Run every cell of the notebook (JupyterLab's Run > Run All Cells command)."""
    # Not awaited: the command's promise resolves only when the last cell has finished.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def execution_count(page: Any, index: int) -> str:
    """The cell's prompt number as shown: "" (never run), "*" (queued or running) or a number."""
    text = cell(page, index).locator(".jp-InputArea-prompt").first.inner_text()
    match = re.search(r"\[(.*?)\]", text)
    return match.group(1).strip() if match else ""


def wait_for_cell_done(page: Any, index: int, timeout: float = 60.0) -> int:
    """Wait until the cell shows an execution count (it ran and finished); return that count."""
    value = wait_until(
        lambda: execution_count(page, index).isdigit() and execution_count(page, index),
        timeout,
        lambda: (
            f"cell {index} did not finish within {timeout:.0f} s (prompt [{execution_count(page, index)}])"
            + diagnostics(page)
        ),
    )
    return int(value)


def output_text(page: Any, index: int) -> str:
    """The visible text of a cell's output area."""
    return cell(page, index).locator(".jp-OutputArea").inner_text()
