"""Every route refuses requests without the token, POSTs need XSRF, and paths stay inside the server's root."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import ROUTES_GET, ROUTES_POST, decode, study_id, url

ARGS = [("store", "hpmagic.db"), ("id", "1"), ("number", "0"), ("study", "hpmagic.db::1")]


@pytest.mark.parametrize("route", ROUTES_GET)
async def test_get_routes_refuse_requests_without_the_token(http_server_client, jp_base_url, root, route) -> None:
    response = await http_server_client.fetch(url(jp_base_url, route, ARGS), raise_error=False)
    assert response.code == 403, (route, response.code)


@pytest.mark.parametrize("route", ROUTES_POST)
async def test_post_routes_refuse_requests_without_the_token(http_server_client, jp_base_url, root, route) -> None:
    body = json.dumps({"store": "hpmagic.db", "id": 1, "action": "stop", "name": "x"})
    response = await http_server_client.fetch(url(jp_base_url, route), method="POST", body=body, raise_error=False)
    assert response.code == 403, (route, response.code)
    # Nothing was written.
    from hpmagic import Storage

    store = Storage(root / "hpmagic.db")
    try:
        assert store.get_control(1) is None and store.get_study(1) is not None
    finally:
        store.close()


async def test_every_route_is_registered_under_the_base_url(http_server_client, jp_auth_header, jp_base_url, root):
    """With the token each GET route answers 200 (so the 403s above are the auth, not a missing route)."""
    sid = study_id(root / "hpmagic.db", "alpha")
    args = [("store", "hpmagic.db"), ("id", str(sid)), ("number", "0"), ("study", f"hpmagic.db::{sid}")]
    assert jp_base_url != "/"
    for route in ROUTES_GET:
        response = await http_server_client.fetch(url(jp_base_url, route, args), headers=jp_auth_header)
        assert response.code == 200, route


async def test_posts_with_the_login_cookie_need_the_xsrf_header(http_server_client, jp_serverapp, jp_base_url, root):
    """A browser session (cookie, no token header) can POST only with the _xsrf token, as JupyterLab sends it."""
    token = jp_serverapp.identity_provider.token
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    cookies = dict(c.split(";")[0].split("=", 1) for c in page.headers.get_list("Set-Cookie"))
    xsrf = cookies["_xsrf"]
    login = await http_server_client.fetch(
        f"{jp_base_url}login",
        method="POST",
        body=f"password={token}&_xsrf={xsrf}",
        headers={"Cookie": f"_xsrf={xsrf}"},
        follow_redirects=False,
        raise_error=False,
    )
    cookies.update(c.split(";")[0].split("=", 1) for c in login.headers.get_list("Set-Cookie"))
    assert len(cookies) >= 2, cookies  # the login cookie and the _xsrf one
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    sid = study_id(root / "hpmagic.db", "alpha")
    body = json.dumps({"store": "hpmagic.db", "id": sid, "action": "stop"})
    refused = await http_server_client.fetch(
        url(jp_base_url, "control"), method="POST", body=body, headers={"Cookie": cookie_header}, raise_error=False
    )
    assert refused.code == 403
    accepted = await http_server_client.fetch(
        url(jp_base_url, "control"),
        method="POST",
        body=body,
        headers={"Cookie": cookie_header, "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert accepted.code == 200, accepted.body
    listed = await http_server_client.fetch(url(jp_base_url, "studies"), headers={"Cookie": cookie_header})
    assert decode(listed)["stores"]


@pytest.mark.parametrize(
    "store",
    ["../hpmagic.db", "sub/../../hpmagic.db", "/etc/passwd", "C:/x.db", "%2e%2e/hpmagic.db", "outside/hpmagic.db"],
)
async def test_paths_outside_the_root_are_refused(jp_fetch, root: Path, tmp_path: Path, store: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir(exist_ok=True)
    shutil.copy(root / "hpmagic.db", outside / "hpmagic.db")
    if not (root / "outside").exists():
        os.symlink(outside, root / "outside")  # a link inside the root that points out of it
    for route in ("study", "trials"):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("hpmagic", route, params={"store": store, "id": 1})
        assert info.value.code in (403, 404), (store, info.value.code)
    if store.startswith("%2e"):  # not decoded again: a folder of that name inside the root, which is allowed
        listed = decode(await jp_fetch("hpmagic", "studies", params={"store": store}))
        assert any(s["path"] == store and s["error"] for s in listed["stores"])
    else:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("hpmagic", "studies", params={"store": store})
        assert info.value.code == 403
    listed = decode(await jp_fetch("hpmagic", "studies"))
    assert all(not s["path"].startswith("outside") for s in listed["stores"])
