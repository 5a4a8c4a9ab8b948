"""Corrupt, newer-schema, locked and vanished stores show as error rows; the others and the server go on."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from hpmagic.storage import SCHEMA_VERSION

from .conftest import decode, study_id


async def listing(jp_fetch) -> dict[str, dict]:
    data = decode(await jp_fetch("hpmagic", "studies"))
    return {s["path"]: s for s in data["stores"]}


def assert_good_ones_still_listed(stores: dict[str, dict]) -> None:
    assert stores["hpmagic.db"]["error"] is None and len(stores["hpmagic.db"]["studies"]) == 2
    assert stores["sub/hpmagic.db"]["error"] is None


async def test_corrupt_and_foreign_files_are_error_rows(jp_fetch, root: Path) -> None:
    (root / "broken").mkdir()
    (root / "broken" / "hpmagic.db").write_bytes(b"this is not a database at all" * 100)
    (root / "foreign").mkdir()
    conn = sqlite3.connect(root / "foreign" / "hpmagic.db")
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    foreign_before = (root / "foreign" / "hpmagic.db").read_bytes()
    stores = await listing(jp_fetch)
    assert "not" in stores["broken/hpmagic.db"]["error"] and stores["broken/hpmagic.db"]["studies"] == []
    assert "not an hpmagic study store" in stores["foreign/hpmagic.db"]["error"]
    # The message names the store as the client does, never the server's own folders.
    assert "foreign/hpmagic.db" in stores["foreign/hpmagic.db"]["error"]
    assert str(root.resolve()) not in stores["foreign/hpmagic.db"]["error"]
    assert (root / "foreign" / "hpmagic.db").read_bytes() == foreign_before  # browsing never changes a file
    assert_good_ones_still_listed(stores)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("hpmagic", "study", params={"store": "broken/hpmagic.db", "id": 1})
    assert info.value.code == 409


async def test_a_newer_schema_is_an_error_row(jp_fetch, root: Path, store_templates) -> None:
    (root / "future").mkdir()
    path = shutil.copy(store_templates["main"], root / "future" / "hpmagic.db")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE hpmagic_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    stores = await listing(jp_fetch)
    assert "newer hpmagic" in stores["future/hpmagic.db"]["error"]
    assert_good_ones_still_listed(stores)


async def test_a_locked_store_is_an_error_row_until_it_is_released(jp_fetch, root: Path, store_templates) -> None:
    (root / "locked").mkdir()
    path = shutil.copy(store_templates["main"], root / "locked" / "hpmagic.db")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        stores = await listing(jp_fetch)
        assert "locked" in stores["locked/hpmagic.db"]["error"]
        assert_good_ones_still_listed(stores)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_vanished_store_becomes_an_error_row_then_leaves(jp_fetch, root: Path) -> None:
    sid = study_id(root / "sub" / "hpmagic.db", "gamma")
    stores = await listing(jp_fetch)
    assert stores["sub/hpmagic.db"]["error"] is None
    (root / "sub" / "hpmagic.db").unlink()
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("hpmagic", "study", params={"store": "sub/hpmagic.db", "id": sid})
    assert info.value.code in (404, 409)
    stores = await listing(jp_fetch)
    assert "sub/hpmagic.db" not in stores or stores["sub/hpmagic.db"]["error"]
    assert stores["hpmagic.db"]["error"] is None
