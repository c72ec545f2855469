"""Outputs never overwrite the store, links and streams are written through, and an import
with one bad record stores nothing, on every store."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager, ValidationError, open_store
from m365_toolkit.cli import cli
from m365_toolkit.store.jsonfile import cost_log_for
from m365_toolkit.transfer import export_to_file, import_file

from .conftest import store_kind


def seeded(location) -> None:
    with SessionManager(location) as manager:
        for number in range(3):
            session = manager.create_session("security_audit", metadata={"n": number})
            session.add_event("progress", f"step {number}")
            session.complete("success")


def companions(location: Path) -> list[Path]:
    if str(location).endswith(".json"):
        return [location, location.with_name(location.name + ".lock"),
                location.with_name(location.name + ".seq"),
                cost_log_for(location)]  # fmt: skip
    return [location, location.with_name(location.name + "-wal"),
            location.with_name(location.name + "-shm")]  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "json"])
def test_an_export_onto_the_store_or_a_file_beside_it_is_refused_by_name(tmp_path, kind):
    location = tmp_path / ("sessions.json" if kind == "json" else "sessions.db")
    seeded(location)
    runner = CliRunner()
    for target in companions(location):
        for command in (
            ["sessions", "export", "--store", str(location), "-o", str(target)],
            ["costs", "export", "--store", str(location), "--csv", str(target)],
        ):
            result = runner.invoke(cli, command)
            assert result.exit_code == 1, (command, result.output)
            assert "Refusing to write" in result.output and str(target) in result.output
    link = tmp_path / "innocent.json"
    link.symlink_to(location)
    result = runner.invoke(cli, ["sessions", "export", "--store", str(location), "-o", str(link)])
    assert result.exit_code == 1 and "Refusing to write" in result.output
    with open_store(location) as store:
        assert store.counts().sessions == 3


def test_an_export_to_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    location = tmp_path / "sessions.db"
    seeded(location)
    target = tmp_path / "shared" / "export.json"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "export.json"
    link.symlink_to(target)
    with open_store(location) as store:
        assert export_to_file(store, link) == 3
    assert link.is_symlink()
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 3


def test_an_export_to_a_fifo_is_streamed_and_the_fifo_stays(tmp_path):
    location = tmp_path / "sessions.db"
    seeded(location)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    with open_store(location) as store:
        assert export_to_file(store, fifo, "jsonl") == 3
    reader.join(10)
    assert len(received[0].splitlines()) == 3
    assert fifo.is_fifo()


def test_a_json_store_reached_through_a_symlink_keeps_the_link(tmp_path):
    shared = tmp_path / "team" / "sessions.json"
    shared.parent.mkdir()
    link = tmp_path / "sessions.json"
    link.symlink_to(shared)
    seeded(link)
    seeded(link)
    assert link.is_symlink()
    assert len(json.loads(shared.read_text(encoding="utf-8"))) == 6


@pytest.fixture(scope="module")
def fifteen_hundred_records() -> list[dict[str, object]]:
    """1,500 stored sessions as exported records, oldest first (made once, in memory)."""
    with SessionManager("memory:") as source:
        for number in range(1500):
            source.create_session("security_audit", metadata={"n": number})
        records = source.get_session_history(days=None)
    records.reverse()
    return records


def test_an_import_with_one_bad_record_stores_nothing_on_any_store(
    store_path, tmp_path, fifteen_hundred_records
):
    records = [dict(record) for record in fifteen_hundred_records]
    del records[1399]["start_time"]
    for fmt, name in (("json", "bad.json"), ("jsonl", "bad.jsonl")):
        path = tmp_path / name
        if fmt == "json":
            path.write_text(json.dumps(records), encoding="utf-8")
        else:
            path.write_text("\n".join(map(json.dumps, records)) + "\n", encoding="utf-8")
        with open_store(store_path) as store:
            where = "record 1400" if fmt == "json" else "line 1400"
            with pytest.raises(ValidationError, match=f"{where}: .*'start_time'"):
                import_file(store, path)
            assert store.counts().sessions == 0, (store_kind(store_path), fmt)
