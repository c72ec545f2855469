import os
import sqlite3

import pytest

from m365_toolkit import (
    ConfigError,
    CorruptStoreError,
    SchemaError,
    SessionManager,
    open_store,
)
from m365_toolkit.store.jsonfile import JsonStore
from m365_toolkit.store.sqlite import APPLICATION_ID, SQLiteStore


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("sessions.db", b"this is not a database, just some text\n" * 50),
        ("sessions.json", b'[{"session_id": "a", "start_time": '),
        ("sessions.json", b'{"session_id": "a"}'),
        ("sessions.json", b"[1, 2, 3]"),
        ("sessions.json", b"\xff\xfe garbage"),
    ],
)
def test_a_corrupt_store_is_reported_by_name_and_left_untouched(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CorruptStoreError, match=str(path)) as caught:
        SessionManager(path)
    assert caught.value.location == str(path)
    assert "left untouched" in str(caught.value)
    assert path.read_bytes() == content
    assert files_in(tmp_path) == [name]


def test_a_damaged_sqlite_page_is_reported_and_not_replaced(tmp_path):
    path = tmp_path / "sessions.db"
    with SessionManager(path) as manager:
        for _ in range(50):
            manager.create_session("security_audit", metadata={"pad": "x" * 500})
    data = bytearray(path.read_bytes())
    data[4096 : 8192 * 4] = b"\x13" * (8192 * 4 - 4096)  # wreck the pages after the first
    path.write_bytes(bytes(data))
    (tmp_path / "sessions.db-wal").unlink(missing_ok=True)
    with pytest.raises(CorruptStoreError, match="corrupt"), SessionManager(path) as manager:
        manager.get_session_history(days=None)
    assert path.read_bytes() == bytes(data)


def test_a_database_of_another_application_is_refused(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(CorruptStoreError, match="another application"):
        SQLiteStore(path)
    assert path.read_bytes() == before


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "sessions.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaError, match="schema version 99"):
        SQLiteStore(path)


def test_a_folder_is_not_a_store(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        SessionManager(tmp_path)
    (tmp_path / "x.json").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        SessionManager(tmp_path / "x.json")


def test_missing_folders_are_created_for_both_stores(tmp_path):
    with open_store(tmp_path / "a" / "b" / "sessions.json") as store:
        assert isinstance(store, JsonStore)
    with open_store(tmp_path / "c" / "sessions.db") as store:
        assert isinstance(store, SQLiteStore)
    assert (tmp_path / "c" / "sessions.db").exists()


def test_the_sqlite_store_is_in_wal_mode_and_marked_as_a_toolkit_store(tmp_path):
    path = tmp_path / "s.db"
    open_store(f"sqlite:///{path}?synchronous=full").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_synchronous_full_is_applied_to_connections(tmp_path):
    store = SQLiteStore(tmp_path / "s.db", synchronous="full")
    assert store.dialect.connect().execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ConfigError, match="synchronous='sometimes'"):
        SQLiteStore(tmp_path / "t.db", synchronous="sometimes")


@pytest.mark.parametrize(
    ("location", "kind", "relative"),
    [
        ("trail.json", JsonStore, "trail.json"),
        ("trail.JSON", JsonStore, "trail.JSON"),
        ("trail.db", SQLiteStore, "trail.db"),
        ("sqlite:///nested/trail.db", SQLiteStore, "nested/trail.db"),
        ("json:///nested/trail.log", JsonStore, "nested/trail.log"),
    ],
)
def test_locations_pick_a_backend(tmp_path, location, kind, relative):
    with open_store(location) as store:
        assert isinstance(store, kind)
        assert store.location == str(tmp_path / relative)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("", "empty"),
        ("mysql://db/trail", "Unknown store scheme 'mysql'"),
        ("postgresql://admin:pw@db/trail?colour=blue", "admin:\\*\\*\\*@db.*colour"),
        ("sqlite:///x.db?colour=blue", "colour"),
        ("json:///x.json?synchronous=full", "takes no options"),
    ],
)
def test_bad_locations_are_explained(location, message):
    with pytest.raises(ConfigError, match=message) as caught:
        open_store(location)
    assert "pw@" not in str(caught.value)


def test_temporary_files_of_killed_json_writers_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    path = tmp_path / "trail.json"
    leftover = tmp_path / f".trail.json.{int(dead.stdout)}.tmp"
    leftover.write_text("[", encoding="utf-8")
    live = tmp_path / f".trail.json.{os.getpid()}.tmp"
    live.write_text("[", encoding="utf-8")
    JsonStore(path).close()
    assert not leftover.exists()
    assert live.exists()  # a live writer's file is left alone
