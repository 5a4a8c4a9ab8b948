"""How fast the JupyterLab extension answers on a large store, and what the Studies panel's live refresh costs.

Fills a store with 100 studies x 1,000 trials (bulk SQL inserts in hpmagic's schema: running that many real trials
would take most of an hour and measure the engine, not the routes), starts a real JupyterLab on it, and measures:

- the routes' answer times (median of repeats): the studies list cold and unchanged, after one trial is written,
  one study's header, a sorted page of trials (by value and by a parameter), and a plot drawn and cached;
- how soon a waiting long-poll answers after a write from another process;
- in headless Chromium (when it is installed), the panel's render time for the 100 rows and the requests it sends
  while idle and while a study writes four trials a second.

Run with ``make bench-lab``; prints a markdown table.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from hpmagic import Storage
from hpmagic.space import Float, Int, Space

TOKEN = "hpmagic-bench-token"
N_STUDIES = 100
N_TRIALS = 1000


def fill_store(path: Path) -> list[int]:
    """100 studies of 1,000 finished trials each, written in one transaction per study."""
    store = Storage(path)
    space = Space({"x": Float(-5, 5), "lr": Float(1e-4, 1, True), "depth": Int(1, 10)})
    rng = random.Random(0)
    ids = []
    for s in range(N_STUDIES):
        record = store.create_study(
            f"study-{s:03d}", direction="minimize", strategy="random", seed=s, space=space, options={"n_trials": 1000}
        )
        ids.append(record.id)
        now = time.time()
        rows = []
        for n in range(N_TRIALS):
            x, lr, depth = rng.uniform(-5, 5), 10 ** rng.uniform(-4, 0), rng.randint(1, 10)
            params = json.dumps({"x": x, "lr": lr, "depth": depth})
            rows.append((record.id, n, "complete", params, (x - 1) ** 2 + lr, now + n, now + n + 0.1))
        store._conn.execute("BEGIN")
        store._conn.executemany(
            "INSERT INTO trials (study_id, number, state, params, value, started_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        store._conn.execute("COMMIT")
        store.set_study_state(record.id, "finished")
    store.close()
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(base: str, path: str) -> tuple[float, bytes]:
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"token {TOKEN}"})
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return (time.perf_counter() - began) * 1000, body


def median_ms(base: str, path: str, repeats: int = 7) -> float:
    return statistics.median(get(base, path)[0] for _ in range(repeats))


def touch_trial(path: Path, study_id: int, number: int) -> None:
    """What a running study does per trial: one trial row written, the study's update time moved."""
    store = Storage(path)
    store._conn.execute("UPDATE trials SET value = value + 0 WHERE study_id = ? AND number = ?", (study_id, number))
    store._touch(study_id)
    store.close()


def start_lab(root: Path, base: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    (base / "settings").mkdir()
    (base / "settings" / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}})
    )
    env = {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1", "JUPYTER_CONFIG_DIR": str(base / "config")}
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        f"--LabApp.workspaces_dir={base / 'ws'}",
        f"--LabApp.user_settings_dir={base / 'user'}",
        f"--LabApp.app_settings_dir={base / 'settings'}",
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=",
        "--LabApp.expose_app_in_browser=True",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(base / "lab.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            get(url, "/api/status")
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError((base / "lab.log").read_text()[-2000:])


def api_numbers(url: str, store: Path, ids: list[int]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    cold, body = get(url, "/hpmagic/studies")
    answer = json.loads(body)
    n = sum(len(s["studies"]) for s in answer["stores"])
    out.append((f"studies, first request ({n} studies, {n * N_TRIALS} trials, summarised)", f"{cold:.0f} ms"))
    out.append(("studies, nothing changed", f"{median_ms(url, '/hpmagic/studies'):.1f} ms"))
    after = []
    for i in range(5):
        touch_trial(store, ids[i], i)
        time.sleep(0.25)
        after.append(get(url, "/hpmagic/studies")[0])
    out.append(("studies, after one trial was written (store summarised again)", f"{statistics.median(after):.0f} ms"))
    sid = ids[0]
    q = f"store=hpmagic.db&id={sid}"
    out.append(("study header (1,000 trials)", f"{median_ms(url, f'/hpmagic/study?{q}'):.1f} ms"))
    page = f"/hpmagic/trials?{q}&sort=value&order=asc&offset=500&limit=50"
    out.append(("trials page, 50 rows sorted by value", f"{median_ms(url, page):.1f} ms"))
    page = f"/hpmagic/trials?{q}&sort=param:x&order=desc&offset=900&limit=50"
    out.append(("trials page, 50 rows sorted by a parameter", f"{median_ms(url, page):.1f} ms"))
    first, _ = get(url, f"/hpmagic/plot?{q}&kind=convergence")
    out.append(
        (
            "convergence plot (SVG), drawn / cached",
            f"{first:.0f} ms / {median_ms(url, f'/hpmagic/plot?{q}&kind=convergence'):.1f} ms",
        )
    )
    first, _ = get(url, f"/hpmagic/plot?{q}&kind=parallel")
    out.append(("parallel coordinates (SVG, 500 best of 1,000), drawn", f"{first:.0f} ms"))

    latencies = []
    for i in range(5):
        token = json.loads(get(url, "/hpmagic/studies")[1])["token"]
        answered: dict[str, float] = {}

        def wait(token: str = token, answered: dict[str, float] = answered) -> None:
            get(url, f"/hpmagic/studies?since={token}&timeout=20")
            answered["at"] = time.perf_counter()

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.5)
        wrote = time.perf_counter()
        touch_trial(store, ids[10 + i], i)
        waiter.join()
        latencies.append((answered["at"] - wrote) * 1000)
    out.append(
        ("long-poll answer after a write by another process", f"{statistics.median(latencies):.0f} ms (median of 5)")
    )
    return out


def panel_numbers(url: str, store: Path, ids: list[int]) -> list[tuple[str, str]]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        return [("panel", "skipped: no Chromium or Playwright")]
    out: list[tuple[str, str]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests: list[float] = []
        page.on("request", lambda r: requests.append(time.monotonic()) if "/hpmagic/studies" in r.url else None)
        page.goto(f"{url}/lab?token={TOKEN}", timeout=90_000)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('hpmagic:open-studies')",
            timeout=90_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('hpmagic:open-studies')")
        page.wait_for_function(
            "() => document.querySelectorAll('#hpmagic-studies tr.jp-hpmagic-studyRow').length >= 100",
            timeout=90_000,
        )
        time.sleep(1)
        began = time.monotonic()
        requests.clear()
        time.sleep(10)
        idle = len(requests)
        renders = []
        before = int(page.get_attribute("#hpmagic-studies", "data-refreshes") or 0)
        requests.clear()
        t0 = time.monotonic()
        for i in range(40):  # a study writing four trials a second for 10 s
            touch_trial(store, ids[20], i)
            renders.append(float(page.get_attribute("#hpmagic-studies", "data-render-ms") or 0))
            time.sleep(0.25)
        busy_seconds = time.monotonic() - t0
        after = int(page.get_attribute("#hpmagic-studies", "data-refreshes") or 0)
        out.append(("panel render of 100 rows (DOM rebuilt)", f"{statistics.median(renders):.1f} ms median"))
        out.append(("panel requests while idle", f"{idle} in {time.monotonic() - began - busy_seconds:.0f} s"))
        out.append(
            (
                "panel while a study writes 4 trials/s",
                f"{after - before} refreshes, {len(requests)} requests in {busy_seconds:.0f} s",
            )
        )
        browser.close()
    return out


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="hpmagic-bench-lab-"))
    root = base / "root"
    root.mkdir()
    store = root / "hpmagic.db"
    began = time.perf_counter()
    ids = fill_store(store)
    print(f"filled {store} with {N_STUDIES} x {N_TRIALS} trials in {time.perf_counter() - began:.1f} s", flush=True)
    proc, url = start_lab(root, base)
    print("\n| measurement | result |\n| --- | --- |", flush=True)
    try:
        for name, value in api_numbers(url, store, ids):
            print(f"| {name} | {value} |", flush=True)
        try:
            rows = panel_numbers(url, store, ids)
        except Exception as exc:  # noqa: BLE001 - the API numbers above still stand
            rows = [("panel", f"failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")]
        for name, value in rows:
            print(f"| {name} | {value} |", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
