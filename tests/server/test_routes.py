"""The JSON routes over real stores: listing, a study's pages, plots, compare, and the write requests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from hpmagic import Storage
from hpmagic.storage import space_from_json

from .conftest import decode, study_id, url


async def get_json(jp_fetch, route: str, **params):
    return decode(await jp_fetch("hpmagic", route, params=params))


async def test_studies_lists_every_store_under_the_root_with_summaries(jp_fetch, root: Path) -> None:
    data = await get_json(jp_fetch, "studies")
    stores = {s["path"]: s for s in data["stores"]}
    assert set(stores) == {"hpmagic.db", "sub/hpmagic.db"}
    assert all(s["error"] is None for s in stores.values())
    main = {s["name"]: s for s in stores["hpmagic.db"]["studies"]}
    assert set(main) == {"alpha", "beta"}
    alpha = main["alpha"]
    assert alpha["strategy"] == "random" and alpha["state"] == "finished" and alpha["direction"] == "minimize"
    assert alpha["n_trials"] >= 12 and alpha["n_complete"] + alpha["n_failed"] == alpha["n_trials"]
    values = [r["value"] for r in (await get_json(jp_fetch, "trials", store="hpmagic.db", id=alpha["id"]))["rows"]]
    assert alpha["best_value"] == min(v for v in values if v is not None)
    gamma = stores["sub/hpmagic.db"]["studies"][0]
    assert gamma["name"] == "gamma" and gamma["direction"] == "maximize"
    assert data["token"]


async def test_study_page_trials_sorted_and_paged_in_sql(jp_fetch, root: Path) -> None:
    sid = study_id(root / "hpmagic.db", "alpha")
    study = await get_json(jp_fetch, "study", store="hpmagic.db", id=sid)
    assert study["name"] == "alpha" and study["best"]["value"] == study["summary"]["best_value"]
    assert [d["name"] for d in study["space"]] == ["x", "n", "opt"]
    assert study["control"] is None and study["marker"]
    first = await get_json(jp_fetch, "trials", store="hpmagic.db", id=sid, sort="value", order="asc", limit=5)
    assert first["total"] == study["summary"]["n_trials"] and len(first["rows"]) == 5
    values = [r["value"] for r in first["rows"]]
    assert values == sorted(values) and values[0] == study["best"]["value"]
    rest = await get_json(jp_fetch, "trials", store="hpmagic.db", id=sid, sort="value", offset=5, limit=100)
    tail = [r["value"] for r in rest["rows"]]
    assert tail[-1] is None or all(v is not None for v in tail)  # failed trials (no value) sort last
    by_param = await get_json(jp_fetch, "trials", store="hpmagic.db", id=sid, sort="param:x", order="desc")
    xs = [r["params"]["x"] for r in by_param["rows"]]
    assert xs == sorted(xs, reverse=True)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("hpmagic", "trials", params={"store": "hpmagic.db", "id": sid, "sort": "value; DROP"})
    assert info.value.code == 400


async def test_trial_detail_has_output_traceback_and_reports(jp_fetch, root: Path) -> None:
    sid = study_id(root / "hpmagic.db", "alpha")
    rows = (await get_json(jp_fetch, "trials", store="hpmagic.db", id=sid, limit=100))["rows"]
    ok = next(r for r in rows if r["state"] == "complete")
    detail = await get_json(jp_fetch, "trial", store="hpmagic.db", id=sid, number=ok["number"])
    assert detail["stdout"].startswith("trying x=") and detail["intermediate"] == [
        [1, ok["params"]["x"] ** 2 + 1],
        [2, ok["params"]["x"] ** 2],
    ]
    failed = [r for r in rows if r["state"] == "failed"]
    if failed:
        detail = await get_json(jp_fetch, "trial", store="hpmagic.db", id=sid, number=failed[0]["number"])
        assert "this optimizer always fails" in detail["traceback"]


@pytest.mark.parametrize("kind", ["convergence", "parallel", "scatter", "curves"])
async def test_plots_are_svg(jp_fetch, root: Path, kind: str) -> None:
    sid = study_id(root / "hpmagic.db", "alpha")
    response = await jp_fetch("hpmagic", "plot", params={"store": "hpmagic.db", "id": sid, "kind": kind, "param": "x"})
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.body.lstrip().startswith(b"<?xml") and b"<svg" in response.body


async def test_compare_overlays_studies_of_two_stores(jp_fetch, http_server_client, jp_auth_header, jp_base_url, root):
    a = study_id(root / "hpmagic.db", "alpha")
    g = study_id(root / "sub" / "hpmagic.db", "gamma")
    query = [("study", f"hpmagic.db::{a}"), ("study", f"sub/hpmagic.db::{g}")]
    response = await http_server_client.fetch(url(jp_base_url, "compare", query), headers=jp_auth_header)
    assert response.headers["Content-Type"] == "image/svg+xml" and b"<svg" in response.body


async def test_control_rename_and_delete_write_the_store(jp_fetch, root: Path) -> None:
    path = root / "hpmagic.db"
    sid = study_id(path, "alpha")

    async def post(route: str, **body):
        return decode(await jp_fetch("hpmagic", route, method="POST", body=json.dumps(body)))

    await post("control", store="hpmagic.db", id=sid, action="stop")
    store = Storage(path)
    try:
        assert store.get_control(sid) == "stop"
    finally:
        store.close()
    study = await get_json(jp_fetch, "study", store="hpmagic.db", id=sid)
    assert study["control"] == "stop"
    await post("control", store="hpmagic.db", id=sid, action=None)
    assert (await get_json(jp_fetch, "study", store="hpmagic.db", id=sid))["control"] is None
    with pytest.raises(HTTPClientError) as info:
        await post("control", store="hpmagic.db", id=sid, action="explode")
    assert info.value.code == 400

    await post("rename", store="hpmagic.db", id=sid, name="alpha renamed")
    with pytest.raises(HTTPClientError) as info:
        await post("rename", store="hpmagic.db", id=sid, name="beta")  # taken
    assert info.value.code == 409
    names = {s["name"] for s in (await get_json(jp_fetch, "studies"))["stores"][0]["studies"]}
    assert names == {"alpha renamed", "beta"}

    await post("delete", store="hpmagic.db", id=sid)
    names = {s["name"] for s in (await get_json(jp_fetch, "studies"))["stores"][0]["studies"]}
    assert names == {"beta"}
    with pytest.raises(HTTPClientError) as info:
        await post("delete", store="hpmagic.db", id=sid)
    assert info.value.code == 404


async def test_a_running_study_cannot_be_deleted(jp_fetch, root: Path) -> None:
    path = root / "hpmagic.db"
    sid = study_id(path, "beta")
    store = Storage(path)
    store.set_study_state(sid, "running")
    store.close()
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("hpmagic", "delete", method="POST", body=json.dumps({"store": "hpmagic.db", "id": sid}))
    assert info.value.code == 409 and b"running" in info.value.response.body


async def test_long_poll_answers_when_a_study_changes(jp_fetch, root: Path) -> None:
    """A request with since=TOKEN waits; a write by another connection answers it within about a second."""
    first = await get_json(jp_fetch, "studies")
    started = time.monotonic()
    same = await get_json(jp_fetch, "studies", since=first["token"], timeout=0.6)
    assert same["token"] == first["token"] and time.monotonic() - started >= 0.5

    sid = study_id(root / "hpmagic.db", "beta")

    def write_later() -> None:
        time.sleep(0.5)
        store = Storage(root / "hpmagic.db")
        store.set_study_state(sid, "running")
        store.close()

    writer = threading.Thread(target=write_later)
    writer.start()
    started = time.monotonic()
    changed = await get_json(jp_fetch, "studies", since=first["token"], timeout=10)
    waited = time.monotonic() - started
    writer.join()
    assert changed["token"] != first["token"]
    assert 0.4 <= waited < 2.0, waited
    beta = next(s for s in changed["stores"][0]["studies"] if s["name"] == "beta")
    assert beta["state"] == "running"

    study = await get_json(jp_fetch, "study", store="hpmagic.db", id=sid)
    task = asyncio.ensure_future(
        jp_fetch("hpmagic", "study", params={"store": "hpmagic.db", "id": sid, "since": study["marker"], "timeout": 10})
    )
    await asyncio.sleep(0.3)
    assert not task.done()
    store = Storage(root / "hpmagic.db")
    store.set_control(sid, "pause")
    store.close()
    answer = decode(await asyncio.wait_for(task, 5))
    assert answer["control"] == "pause" and answer["marker"] != study["marker"]


async def test_stores_named_in_settings_are_listed(jp_fetch, root: Path, store_templates) -> None:
    import shutil

    (root / "runs").mkdir()
    shutil.copy(store_templates["other"], root / "runs" / "experiments.sqlite")
    data = await get_json(jp_fetch, "studies", store="runs/experiments.sqlite")
    paths = [s["path"] for s in data["stores"]]
    assert "runs/experiments.sqlite" in paths


async def test_a_store_named_in_config_or_storage_is_listed_without_settings(jp_fetch, root: Path) -> None:
    """A study run with --storage experiments/runs.db (or %config TuneMagics.storage) shows up by itself."""
    import hpmagic
    from hpmagic import tune

    (root / "experiments").mkdir()
    hpmagic.optimize(
        lambda p: p["x"],
        {"x": tune.uniform(0, 1)},
        n_trials=3,
        strategy="random",
        storage=str(root / "experiments" / "runs.db"),
        name="elsewhere",
    )
    data = await get_json(jp_fetch, "studies", timeout=0)
    stores = {s["path"]: s for s in data["stores"]}
    assert "experiments/runs.db" in stores
    assert [s["name"] for s in stores["experiments/runs.db"]["studies"]] == ["elsewhere"]


async def test_compare_draws_one_curve_per_study(jp_fetch, http_server_client, jp_auth_header, jp_base_url, root):
    a = study_id(root / "hpmagic.db", "alpha")
    b = study_id(root / "hpmagic.db", "beta")
    g = study_id(root / "sub" / "hpmagic.db", "gamma")
    query = [("study", f"hpmagic.db::{a}"), ("study", f"hpmagic.db::{b}"), ("study", f"sub/hpmagic.db::{g}")]
    response = await http_server_client.fetch(url(jp_base_url, "compare", query), headers=jp_auth_header)
    svg = response.body.decode()
    assert all(f'id="hpmagic-compare-{i}"' in svg for i in range(3)), svg[:300]
    assert 'id="hpmagic-compare-3"' not in svg


async def test_rows_name_the_notebook_relative_to_the_root(jp_fetch, root: Path) -> None:
    """The magic records the notebook's path as the kernel knows it (absolute): the panel gets it relative to the
    root, a notebook outside the root by its file name only, and a study run from Python has none."""
    store = Storage(root / "hpmagic.db")
    try:
        space = space_from_json(store.get_study(study_id(root / "hpmagic.db", "alpha")).space)
        for name, notebook in [("inside", str(root / "work" / "nb.ipynb")), ("outside", "/elsewhere/away.ipynb")]:
            store.create_study(
                name,
                direction="minimize",
                strategy="random",
                seed=0,
                space=space,
                options={"notebook": notebook},
            )
    finally:
        store.close()
    data = await get_json(jp_fetch, "studies")
    rows = {s["name"]: s for s in next(s for s in data["stores"] if s["path"] == "hpmagic.db")["studies"]}
    assert rows["inside"]["notebook"] == "work/nb.ipynb"
    assert rows["outside"]["notebook"] == "away.ipynb"
    assert rows["alpha"]["notebook"] is None
    study = await get_json(jp_fetch, "study", store="hpmagic.db", id=rows["inside"]["id"])
    assert study["summary"]["notebook"] == "work/nb.ipynb"
