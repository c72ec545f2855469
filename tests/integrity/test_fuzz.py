"""A tamper fuzzer: hundreds of random single edits made behind a sealed store's back, with
sqlite3 on its file and psycopg on its PostgreSQL schema, and in a chain export's text;
verify catches every one and names the position of the record that was changed (the
engine is tamper_fuzz.py; bench/bench_chain.py --fuzz runs as many as asked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrity.tamper_fuzz import (
    PostgresCopies,
    SQLiteCopies,
    exported,
    fuzz_file,
    fuzz_store,
)

EDITS = {"sqlite": 300, "postgres": 200}


@pytest.fixture(scope="module")
def sqlite_copies(tmp_path_factory: pytest.TempPathFactory) -> SQLiteCopies:
    return SQLiteCopies(tmp_path_factory.mktemp("fuzz"))


def test_every_random_single_edit_is_detected_at_the_right_position(sqlite_copies):
    missed, seen = fuzz_store(sqlite_copies, EDITS["sqlite"], seed=12)
    assert not missed, missed
    assert len(seen) >= 26  # nearly every kind of edit was tried


def test_every_random_single_edit_of_a_postgres_store_is_detected(postgres_server):
    url, admin = postgres_server
    copies = PostgresCopies(url, admin)
    try:
        missed, seen = fuzz_store(copies, EDITS["postgres"], seed=13)
    finally:
        copies.drop()
    assert not missed, missed
    assert len(seen) >= 24


def test_every_random_single_edit_of_an_export_is_detected(sqlite_copies, tmp_path: Path):
    path, key = exported(sqlite_copies.fresh(), tmp_path)
    missed, seen = fuzz_file(path, key, 300, seed=14)
    assert not missed, missed
    assert len(seen) == 8
