"""PostgreSQL passwords never appear in a message or log line, whatever form the location has.

Forms: URL user info (with unencoded special characters), ``?password=`` and
``?sslpassword=``, and libpq key/value strings (``host=db user=x password=y dbname=z``),
which are PostgreSQL stores, not SQLite files named after the password.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from m365_toolkit import ConfigError, SessionManager, StoreError
from m365_toolkit.cli import cli
from m365_toolkit.sessions.manager import get_session_manager
from m365_toolkit.store import StoreLocation, _safe, open_store

from .conftest import PostgresSchemas

SECRET = "Sekr1t"


@pytest.mark.parametrize(
    ("location", "masked"),
    [
        ("postgresql://admin:Sekr1t@db/trail", "postgresql://admin:***@db/trail"),
        ("postgresql://admin:Sek@r1t@db/trail", "postgresql://admin:***@db/trail"),
        ("postgresql://admin:Se:k/r1t@db:5432/trail", "postgresql://admin:***@db:5432/trail"),
        ("postgresql://admin:Sek?r1t@db/trail", "postgresql://admin:***@db/trail"),
        ("postgresql://admin:Sek#r1t@db/trail", "postgresql://admin:***@db/trail"),
        ("postgresql://admin:Se k%r1t!@db/trail", "postgresql://admin:***@db/trail"),
        ("postgres://admin:Sek%40r1t@db/trail", "postgres://admin:***@db/trail"),
        ("postgresql://admin@db/trail?password=Sekr1t", "postgresql://admin@db/trail?password=***"),
        ("postgresql://admin@db/trail?sslmode=require&sslpassword=Sekr1t&x=1",
         "postgresql://admin@db/trail?sslmode=require&sslpassword=***&x=1"),
        ("postgresql://admin:Sekr1t@db/trail?SSLPASSWORD=Sekr1t",
         "postgresql://admin:***@db/trail?SSLPASSWORD=***"),
        ("host=db user=admin password=Sekr1t dbname=trail",
         "host=db user=admin password=*** dbname=trail"),
        ("host=db password = 'Se kr1t' dbname=trail", "host=db password = *** dbname=trail"),
        ("host=db password='Se\\'kr1t' sslpassword=Sekr1t",
         "host=db password=*** sslpassword=***"),
        ("postgresql://db:5432/trail?application_name=me@laptop",
         "postgresql://db:5432/trail?application_name=me@laptop"),
    ],
)  # fmt: skip
def test_every_form_of_password_is_masked(location, masked):
    assert _safe(location) == masked
    assert "Sek" not in _safe(location, mask="")


@pytest.mark.parametrize(
    "dsn",
    [
        "host=db user=admin password=Sekr1t dbname=trail",
        "  dbname = trail host=db ",
        "service=team",
        "host=/var/run/postgresql dbname=trail options='-c search_path=x'",
    ],
)
def test_a_key_value_string_names_a_postgresql_store(dsn):
    location = StoreLocation.parse(dsn)
    assert (location.scheme, location.path, location.url) == ("postgresql", Path(), dsn.strip())
    assert SECRET not in location.key


def test_key_value_strings_naming_one_database_are_one_store_whatever_the_password():
    one = StoreLocation.parse("host=db user=admin password=Sekr1t dbname=trail")
    two = StoreLocation.parse("dbname=trail   user=admin host=db")
    assert one.key == two.key
    assert one.key != StoreLocation.parse("host=db user=admin dbname=other").key


@pytest.mark.parametrize("path", ["a=b.db", "sessions.db", "x = y.json", "host=db.sqlite3 z"])
def test_file_names_with_an_equals_sign_stay_files(path):
    assert StoreLocation.parse(path).scheme in ("sqlite", "json")


def test_the_url_key_drops_the_ssl_password_and_keeps_the_other_parameters():
    with_secret = StoreLocation.parse("postgresql://u@db/t?sslpassword=Sekr1t&sslmode=require")
    assert with_secret.key == StoreLocation.parse("postgresql://u@db/t?sslmode=require").key


def test_the_shared_manager_error_never_names_the_password(tmp_path: Path):
    get_session_manager(tmp_path / "sessions.db")
    for other in (
        "postgresql://admin:Sek?r1t@db/trail",
        "host=db user=admin password=Sekr1t dbname=trail",
    ):
        with pytest.raises(ConfigError, match="cannot switch to") as caught:
            get_session_manager(other)
        assert "Sek" not in str(caught.value)


@pytest.mark.parametrize(
    "location",
    [
        "postgresql://admin:Sek?r1t@127.0.0.1:1/trail",
        "postgresql://admin:Sek@r1t@127.0.0.1:1/trail",
        "postgresql://admin@127.0.0.1:1/trail?sslpassword=Sekr1t",
        "host=127.0.0.1 port=1 user=admin password=Sekr1t dbname=trail",
        "host=127.0.0.1 port=1 user=admin password='Sek r1t' dbname=trail",
    ],
)
def test_an_unreachable_server_is_explained_without_the_password(location, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises((StoreError, ConfigError)) as caught:
        open_store(location)
    for text in (str(caught.value), repr(caught.value.__cause__), caplog.text):
        assert "Sek" not in text and "r1t" not in text
    assert "127.0.0.1" in str(caught.value)


def _dsn(url: str, **extra: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo(**{**conninfo_to_dict(url), **extra})


def test_a_key_value_string_opens_a_real_postgresql_store(pg_schemas: PostgresSchemas, caplog):
    caplog.set_level(logging.DEBUG)
    dsn = _dsn(pg_schemas.new(), password=SECRET)  # trust auth: the password is not checked
    with SessionManager(dsn) as manager:
        session = manager.create_session("security_audit")
        assert manager.store.location == _safe(dsn)
        assert SECRET not in manager.storage_path and SECRET not in repr(manager.store)
    with open_store(dsn) as store:
        assert store.get(session.session_id) is not None
    assert SECRET not in caplog.text


def test_store_migrate_never_prints_the_password(
    pg_schemas: PostgresSchemas, tmp_path: Path, caplog: Any
):
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "sessions.db"
    with SessionManager(source) as manager:
        manager.create_session("security_audit").complete()
    url = pg_schemas.new().replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")
    runner = CliRunner()
    for target in (url, _dsn(pg_schemas.new(), password=SECRET)):
        result = runner.invoke(cli, ["store", "migrate", "--from", str(source), "--to", target])
        assert result.exit_code == 0, result.output
        assert "***" in result.output and SECRET not in result.output
        same = runner.invoke(cli, ["store", "migrate", "--from", target, "--to", target])
        assert same.exit_code == 1 and "same store" in same.output
        assert SECRET not in same.output
    missing = runner.invoke(
        cli, ["store", "migrate", "--from", str(tmp_path / "none.db"), "--to", url]
    )
    assert missing.exit_code == 1 and SECRET not in missing.output
    assert SECRET not in caplog.text
