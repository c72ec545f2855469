# ruff: noqa: E501  (the tables of cases read best one case a line)
"""Hostile and broken input ends in one clear toolkit error, never a traceback; a rejected
import leaves the store as it was; damaged stored rows are named and the others still read."""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager, open_store
from m365_toolkit.cli import cli
from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
from m365_toolkit.data.retention import parse_age, prune_sessions
from m365_toolkit.data.transfer import import_file
from m365_toolkit.errors import (
    CorruptStoreError,
    DamagedRecordWarning,
    SessionsError,
    StoreError,
    ValidationError,
)
from m365_toolkit.sessions.model import Session, Status
from m365_toolkit.sessions.query import window_start

from .conftest import FakeClock, store_kind

START = "2026-01-01T00:00:00+00:00"
SESSION: dict[str, Any] = {
    "session_id": "s-1", "user": "alice", "operation_type": "security_audit",
    "metadata": {"tenant": "contoso"}, "start_time": START,
    "end_time": "2026-01-01T00:01:00+00:00", "status": "success", "duration_seconds": 60.0,
    "host": "h", "pid": 12,
    "events": [{"timestamp": START, "type": "start", "description": "d", "data": {}}],
}  # fmt: skip
COST: dict[str, Any] = {
    "timestamp": START, "model": "gpt-5", "tokens": {"input": 10, "output": 5},
    "cost": {"input": 0.1, "output": 0.2},
}  # fmt: skip
EVENT = SESSION["events"][0]


def session(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(SESSION)), **changes}


def cost(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(COST)), **changes}


def array(*records: Any) -> bytes:
    return json.dumps(list(records)).encode()


# name -> (format, file body, words the one-line error must hold: the record and the field)
SHAPES: dict[str, tuple[str, bytes, tuple[str, ...]]] = {
    "utf-16 array": ("json", json.dumps([SESSION]).encode("utf-16"), ("UTF-16",)),
    "utf-16 lines": ("jsonl", json.dumps(SESSION).encode("utf-16"), ("line 1", "UTF-16")),
    "not utf-8 line": ("jsonl", json.dumps(SESSION).encode() + b"\n\x81\xc3(\n", ("line 2", "UTF-8")),
    "events a string": ("json", array(session(events="abc")), ("record 1", "events")),
    "events of numbers": ("json", array(session(events=[1])), ("record 1", "events[0]")),
    "duration a string": ("json", array(session(duration_seconds="1")), ("duration_seconds",)),
    "duration NaN": ("json", array(session(duration_seconds=math.nan)), ("duration_seconds", "nan")),
    "duration Infinity": ("json", array(session(duration_seconds=math.inf)), ("duration_seconds",)),
    "duration negative": ("json", array(session(duration_seconds=-1)), ("duration_seconds", "negative")),
    "duration huge int": ("json", array(session(duration_seconds=10**400)), ("duration_seconds",)),
    "end before start": ("json", array(session(end_time="2025-01-01T00:00:00+00:00")), ("end_time", "before")),
    "pid a string": ("json", array(session(pid="12")), ("pid",)),
    "pid beyond 64 bits": ("json", array(session(pid=2**64)), ("pid",)),
    "seq a string": ("json", array(session(events=[{**EVENT, "seq": "x"}])), ("events[0]", "seq")),
    "seq beyond 64 bits": ("json", array(session(events=[{**EVENT, "seq": 2**70}])), ("seq",)),
    "year 1 with offset": ("json", array(session(start_time="0001-01-01T00:00:00+05:00")), ("start_time", "out of range")),
    "year 9999 with offset": ("json", array(session(end_time="9999-12-31T23:59:59-05:00")), ("end_time", "out of range")),
    "nested 100000 deep": ("json", b"[" + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"]", ("nests too deeply",)),
    "metadata 500 deep": ("json", array(session(metadata=json.loads('{"a":' * 500 + "1" + "}" * 500))), ("metadata", "deeper")),
    "5000-digit integer": ("json", b'[{"session_id": "x", "start_time": "' + START.encode() + b'", "pid": ' + b"9" * 5000 + b"}]", ("digits",)),
    "lone surrogate": ("json", array(session(user="\ud800")), ("user", "surrogate")),
    "NUL in text": ("json", array(session(operation_type="a\x00b")), ("operation_type", "NUL")),
    "host a number": ("json", array(session(host=5)), ("host",)),
    "description an object": ("json", array(session(events=[{**EVENT, "description": {}}])), ("description",)),
    "record a number": ("json", b"[1]", ("record 1",)),
    "cost NaN": ("costs", array(cost(cost={"input": math.nan})), ("record 1", "input cost")),
    "cost Infinity": ("costs", array(cost(cost={"output": math.inf})), ("output cost",)),
    "cost 1e300": ("costs", array(cost(cost={"input": 1e300})), ("input cost",)),
    "cost negative": ("costs", array(cost(cost={"input": -1})), ("input cost",)),
    "tokens beyond 64 bits": ("costs", array(cost(tokens={"input": 2**70, "output": 1})), ("input tokens",)),
    "tokens NaN": ("costs", array(cost(tokens={"input": 1, "output": math.nan})), ("output tokens",)),
    "tokens Infinity": ("costs", array(cost(tokens={"input": math.inf, "output": 1})), ("input tokens",)),
    "tokens a string": ("costs", array(cost(tokens={"input": "1", "output": 1})), ("input tokens",)),
    "tokens a list": ("costs", array(cost(tokens=[1])), ("tokens",)),
    "model an object": ("costs", array(cost(model={})), ("model",)),
    "cost timestamp year 1": ("costs", array(cost(timestamp="0001-01-01T00:00:00+01:00")), ("timestamp", "out of range")),
    "cost line NaN": ("jsonl", json.dumps(cost(cost={"input": math.nan})).encode(), ("line 1", "input cost")),
}  # fmt: skip

STORES = ("memory", "sqlite", "json", "postgres")


@pytest.fixture(params=STORES)
def any_store(request: pytest.FixtureRequest, new_store: Any) -> str:
    """A new store location of each kind, the in-memory one included (for the library)."""
    return "memory:" if request.param == "memory" else str(new_store(request.param))


def snapshot(store: Any) -> tuple[Any, list[Any], list[Any]]:
    """Everything a store holds, to compare before and after a rejected input."""
    sessions = [s for batch in store.scan() for s in batch]
    return store.counts(), sessions, list(store.costs.entries())


def seeded(location: str) -> Any:
    store = open_store(location)
    store.import_sessions([Session.from_dict(session(session_id="kept"))])
    store.costs.import_records([CostRecord.from_entry(COST)])
    return store


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_bad_import_shape_is_one_toolkit_error_naming_it_and_stores_nothing(
    any_store, tmp_path, shape
):
    fmt, body, words = SHAPES[shape]
    source = tmp_path / f"input.{'jsonl' if fmt == 'jsonl' else 'json'}"
    source.write_bytes(body)
    with seeded(any_store) as store:
        before = snapshot(store)
        with pytest.raises((ValidationError, CorruptStoreError)) as caught:
            import_file(store, source, fmt if fmt != "jsonl" else "auto")
        assert snapshot(store) == before
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("shape", ["utf-16 lines", "pid beyond 64 bits", "cost NaN", "nested 100000 deep"])  # fmt: skip
def test_the_cli_prints_one_line_and_exits_1_on_a_bad_import(tmp_path, shape):
    fmt, body, words = SHAPES[shape]
    source = tmp_path / f"input.{'jsonl' if fmt == 'jsonl' else 'json'}"
    source.write_bytes(body)
    result = CliRunner().invoke(
        cli, ["sessions", "import", str(source), "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot import") and result.output.count("\n") == 1
    assert not isinstance(result.exception, SystemExit) or result.exception.code == 1


def test_a_store_export_imports_back_into_every_store(any_store, tmp_path):
    # The checks refuse damage, not the toolkit's own output: year-1 and year-9999 edges,
    # big pids and integers in metadata, unicode, a session completed by a clock that
    # stepped back.
    clock = FakeClock()
    source = tmp_path / "source.db"
    with SessionManager(source, clock=clock) as manager:
        first = manager.create_session("audit", metadata={"n": 2**62, "name": "Zoë ✓"})
        clock.advance(seconds=-30)
        manager.complete_session(first.session_id)
        manager.create_session("other")
    records = [
        *(s for batch in open_store(source).scan() for s in batch),
        session(session_id="edge-1", start_time="0001-01-01T00:00:00+00:00", pid=2**63 - 1),
        session(session_id="edge-2", end_time="9999-12-31T23:59:59+00:00"),
    ]
    (tmp_path / "all.json").write_text(json.dumps(records), encoding="utf-8")
    with open_store(any_store) as store:
        result = import_file(store, tmp_path / "all.json")
        assert (result.imported, result.skipped) == (4, 0)
        stored = store.get(first.session_id)
        assert stored is not None and stored["duration_seconds"] == 0.0
        assert stored["end_time"] >= stored["start_time"]  # never ends before it started


# -- impossible values in the API ------------------------------------------------------------


@pytest.mark.parametrize("duration", [math.nan, math.inf, -math.inf, -1.0])
def test_mark_finished_refuses_an_impossible_duration(duration):
    created = Session(operation_type="audit")
    with pytest.raises(ValidationError, match="duration_seconds"):
        created.mark_finished(Status.SUCCESS, created.start_time, duration)
    assert created.is_active


def test_mark_finished_refuses_an_end_before_the_start():
    created = Session(operation_type="audit")
    with pytest.raises(ValidationError, match="before the start"):
        created.mark_finished(Status.SUCCESS, created.start_time - timedelta(seconds=1))


def test_a_clock_that_steps_back_ends_a_session_at_its_start(manager, clock):
    created = manager.create_session("audit")
    clock.advance(minutes=-5)
    manager.complete_session(created.session_id)
    stored = manager.store.get(created.session_id)
    assert stored["end_time"] == stored["start_time"] and stored["duration_seconds"] == 0.0
    local = Session(operation_type="x", clock=clock)
    clock.advance(minutes=-5)
    local.complete()
    assert local.end_time == local.start_time


@pytest.mark.parametrize(
    "amount", [Decimal("NaN"), Decimal("Infinity"), Decimal(-1), Decimal("1e30"), 0.5]
)
def test_cost_refuses_impossible_amounts(amount):
    with pytest.raises(ValidationError, match="input cost"):
        Cost(amount, Decimal(0), Decimal(0), "test")


@pytest.mark.parametrize("tokens", [-1, 2**64, 1.5, True])
def test_token_usage_refuses_impossible_counts(tokens):
    with pytest.raises(ValidationError, match="input tokens"):
        TokenUsage(tokens, 0)


# -- day windows -----------------------------------------------------------------------------


@pytest.mark.parametrize("days", [math.inf, math.nan, 1e300, 10**400, 800_000, -1, "7"])
def test_window_start_refuses_windows_it_cannot_compute(days):
    with pytest.raises(ValidationError, match="days"):
        window_start(days)


def test_window_start_of_none_is_all_time_and_of_a_large_window_is_its_start():
    assert window_start(None) is None
    clock = FakeClock()
    assert window_start(700_000, clock) == clock.now - timedelta(days=700_000)


@pytest.mark.parametrize("age", ["99999999999999d", "9" * 400 + "w", "999999999d"])
def test_ages_beyond_the_year_1_are_a_clear_error(manager, age):
    with pytest.raises(ValidationError, match="year 1|longer than"):
        prune_sessions(manager.store, parse_age(age))
    with pytest.raises(ValidationError, match="year 1|longer than"):
        manager.find_stale(parse_age(age))


@pytest.mark.parametrize("command", ["list", "stats", "export"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1", "abc", "800000"])
def test_the_cli_refuses_bad_days_in_one_error(tmp_path, command, value):
    result = CliRunner().invoke(
        cli, ["sessions", command, "--days", value, "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 2 and "Invalid value for '--days'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("command", [["sessions", "reap"], ["sessions", "prune", "--dry-run"]])
def test_the_cli_refuses_an_age_beyond_the_year_1(tmp_path, command):
    result = CliRunner().invoke(
        cli, [*command, "--older-than", "999999999d", "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code in (1, 2) and "year 1" in result.output
    assert result.output.strip().count("\n") <= 2


def test_days_all_is_every_session(tmp_path):
    location = tmp_path / "s.db"
    clock = FakeClock(datetime(2001, 1, 1, tzinfo=UTC))
    with SessionManager(location, clock=clock) as manager:
        manager.create_session("ancient")
    listed = CliRunner().invoke(cli, ["sessions", "list", "--days", "all", "--json",
                                      "--store", str(location)])  # fmt: skip
    assert listed.exit_code == 0 and [s["operation_type"] for s in json.loads(listed.output)] == [
        "ancient"
    ]
    stats = CliRunner().invoke(
        cli, ["sessions", "stats", "--days", "ALL", "--store", str(location)]
    )
    assert stats.exit_code == 0 and "All Time" in stats.output
    report = CliRunner().invoke(cli, ["costs", "report", "--days", "all", "--store", str(location)])
    assert report.exit_code == 0 and "of all time" in report.output


@pytest.mark.anyio
@pytest.mark.parametrize("days", [1e300, -1])
async def test_mcp_days_out_of_range_is_a_clean_tool_error(tmp_path, days):
    from mcp import Client

    from m365_toolkit.mcp_server import build_server

    async with Client(build_server(tmp_path)) as client:
        for tool in ("list_sessions", "session_statistics", "cost_report"):
            result = await client.call_tool(tool, {"days": days})
            text = "\n".join(block.text for block in result.content)
            assert result.is_error and "days" in text and "Traceback" not in text, text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- store locations -------------------------------------------------------------------------


def _one_line_error(location: str) -> str:
    result = CliRunner().invoke(cli, ["sessions", "list", "--store", location])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    return result.output


def test_store_locations_that_cannot_work_are_one_line_naming_path_and_reason(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert "busy_timeout='abc'" in _one_line_error(f"{tmp_path}/s.db?busy_timeout=abc")
    assert "busy_timeout=" in _one_line_error(f"{tmp_path}/s.db?busy_timeout=nan")
    for name in ("s.db", "s.json"):
        out = _one_line_error(str(tmp_path / "file" / name))
        assert "file, not a folder" in out and str(tmp_path / "file") in out
        out = _one_line_error(str(tmp_path / ("a" * 300 + name)))
        assert "too long" in out


def as_nobody(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run Python code as the user nobody (the tests run as root, who may write anything)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run a check as an unprivileged user")
    src = Path(__file__).resolve().parents[1] / "src"
    return subprocess.run(
        [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code],
        cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(src), "HOME": str(cwd)},
    )  # fmt: skip


@pytest.fixture
def open_folder() -> Any:
    """A folder every user can enter (pytest's own are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="m365-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder)


def test_a_store_this_user_cannot_write_still_answers_queries(open_folder):
    tmp_path = open_folder
    folder = tmp_path / "ro"
    folder.mkdir()
    with SessionManager(folder / "s.db") as manager:
        manager.complete_session(manager.create_session("audit").session_id)
    with SessionManager(folder / "s.json") as manager:
        manager.complete_session(manager.create_session("audit").session_id)
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    code = """
import json, sys
from m365_toolkit import SessionManager
from m365_toolkit.errors import StoreError
out = {}
for name in ("s.db", "s.json"):
    with SessionManager("ro/" + name) as manager:
        history = manager.get_session_history(days=None)
        stats = manager.get_statistics(None)
        try:
            manager.create_session("write")
            wrote = "written"
        except StoreError as exc:
            wrote = str(exc)
    out[name] = [len(history), stats["total_sessions"], wrote]
try:
    SessionManager("ro/new.db")
except StoreError as exc:
    out["new"] = str(exc)
print(json.dumps(out))
"""
    done = as_nobody(code, tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["s.db"][:2] == [1, 1] and "read-only" in found["s.db"][2]
    assert found["s.json"][:2] == [1, 1] and "lock file" in found["s.json"][2]
    assert "may not write in the folder" in found["new"]


# -- damaged stored rows ---------------------------------------------------------------------


def damaged_sqlite_store(location: Path) -> list[str]:
    """Four finished sessions and two active ones; then three finished ones and one active
    one damaged in place."""
    clock = FakeClock(datetime.now(UTC) - timedelta(days=2))
    with SessionManager(location, clock=clock) as manager:
        ids = []
        for number in range(4):
            created = manager.create_session("audit", metadata={"n": number})
            created.add_event("step", "checked", {"control": number})
            manager.complete_session(created.session_id)
            ids.append(created.session_id)
        active = manager.create_session("audit")
        damaged_active = manager.create_session("audit")
    with sqlite3.connect(location) as conn:
        conn.execute("UPDATE sessions SET metadata = '{bad' WHERE session_id = ?", (ids[0],))
        conn.execute(
            "UPDATE sessions SET user_name = CAST(x'ff41' AS TEXT) WHERE session_id = ?", (ids[1],)
        )
        conn.execute(
            "UPDATE events SET data = '[1' WHERE type = 'step' AND session = "
            "(SELECT id FROM sessions WHERE session_id = ?)",
            (ids[2],),
        )
        for live in (active, damaged_active):
            conn.execute(
                "UPDATE sessions SET pid = 999999999 WHERE session_id = ?", (live.session_id,)
            )
        conn.execute(
            "UPDATE sessions SET metadata = '' WHERE session_id = ?", (damaged_active.session_id,)
        )
    return [*ids, active.session_id, damaged_active.session_id]


@pytest.mark.parametrize(
    "command",
    [
        ["sessions", "list", "--days", "all"],
        ["sessions", "export"],
        ["sessions", "export", "--format", "csv"],
        ["sessions", "stats", "--days", "all"],
        ["sessions", "reap"],
        ["report", "--days", "all", "--no-verify", "--format", "json"],
    ],
)
def test_damaged_rows_are_named_the_others_read_and_the_exit_is_1(tmp_path, command):
    location = tmp_path / "s.db"
    ids = damaged_sqlite_store(location)
    root = ["--root", str(tmp_path)] if command[0] == "report" else []
    result = CliRunner().invoke(cli, [*command, *root, "--store", str(location)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if command[1] == "stats":
        assert "user is damaged" in result.output and "Total Sessions: 6" in result.output
        return
    if command[0] == "report":  # the operations section: sessions in outline
        board = json.loads(next((tmp_path / "output" / "reports" / "security").glob("*.json"))
                           .read_text(encoding="utf-8"))  # fmt: skip
        assert f"Session {ids[1]!r}" in result.output and "its user" in result.output
        assert board["operations"]["total"] == 5 + 1  # the damaged one left out; the report's own
        return
    if command[1] == "reap":
        assert ids[4] in result.output  # the readable active session was still reaped
        assert f"Session {ids[5]!r}" in result.output and "its metadata" in result.output
        return
    else:
        assert ids[3] in result.output  # the intact session is there
    for session_id, field in zip(ids, ["metadata", "user", "event data"], strict=False):
        assert f"Session {session_id!r}" in result.output and f"its {field}" in result.output


def test_show_of_a_damaged_session_is_one_line_and_prune_goes_on(tmp_path):
    location = tmp_path / "s.db"
    ids = damaged_sqlite_store(location)
    shown = CliRunner().invoke(cli, ["sessions", "show", ids[0], "--store", str(location)])
    assert shown.exit_code == 1 and "its metadata is not valid JSON" in shown.output
    assert shown.output.count("\n") == 1
    assert (
        CliRunner().invoke(cli, ["sessions", "show", ids[3], "--store", str(location)]).exit_code
        == 0
    )
    pruned = CliRunner().invoke(
        cli, ["sessions", "prune", "--older-than", "1d", "--store", str(location)]
    )
    assert pruned.exit_code == 0 and "Removed 4 session(s)" in pruned.output


def test_the_library_warns_per_damaged_row_and_returns_the_others(tmp_path):
    location = tmp_path / "s.db"
    ids = damaged_sqlite_store(location)
    with open_store(location) as store, pytest.warns(DamagedRecordWarning) as caught:
        scanned = [s["session_id"] for batch in store.scan(batch=2) for s in batch]
    assert scanned == [ids[3], ids[4]]
    assert sorted(w.message.session_id for w in caught) == sorted([*ids[:3], ids[5]])
    with open_store(location) as store, pytest.raises(CorruptStoreError, match=ids[1]):
        store.get(ids[1])


def test_bit_flips_in_a_sqlite_store_never_crash_a_read(tmp_path):
    location = tmp_path / "s.db"
    with SessionManager(location) as manager:
        for number in range(30):
            created = manager.create_session("audit", metadata={"note": "x" * 40, "n": number})
            created.add_event("step", "y" * 30, {"k": "z" * 30})
    pristine = location.read_bytes()
    rng = __import__("random").Random(7)
    for _ in range(40):
        data = bytearray(pristine)
        for _ in range(4):
            data[rng.randrange(4096, len(data))] ^= 1 << rng.randrange(8)
        location.write_bytes(bytes(data))
        for command in (["list", "--days", "all"], ["export"], ["stats"]):
            result = CliRunner().invoke(cli, ["sessions", *command, "--store", str(location)])
            assert result.exit_code in (0, 1), result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                result.exception
            )


def test_a_json_store_with_records_of_the_wrong_shape_reads_the_others_and_keeps_them(tmp_path):
    location = tmp_path / "s.json"
    good = session(session_id="good")
    bad = [
        session(session_id="bad-events", events="abc"),
        session(session_id="bad-duration", duration_seconds="slow"),
        session(session_id="bad-metadata", metadata=[1]),
        session(session_id="bad-start", start_time=5),
    ]
    location.write_text(json.dumps([good, *bad]), encoding="utf-8")
    (tmp_path / "s.costs.json").write_text(
        json.dumps([COST, cost(tokens={"input": "many"})]), encoding="utf-8"
    )
    for command in (["list", "--days", "all"], ["export"], ["stats", "--days", "all"], ["reap"]):
        result = CliRunner().invoke(cli, ["sessions", *command, "--store", str(location)])
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        for record in bad:
            assert record["session_id"] in result.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedRecordWarning)
        with SessionManager(location) as manager:
            manager.complete_session(manager.create_session("new").session_id)
            assert manager.store.costs.total() > 0
    kept = json.loads(location.read_text(encoding="utf-8"))
    assert [r["session_id"] for r in kept][:1] == ["good"] and len(kept) == 6
    assert all(record in kept for record in bad)  # written back as they were
    assert len(json.loads((tmp_path / "s.costs.json").read_text(encoding="utf-8"))) == 2


def test_errors_raised_here_are_toolkit_errors():
    assert issubclass(CorruptStoreError, SessionsError) and issubclass(StoreError, SessionsError)
    assert store_kind("x.json") == "json"
