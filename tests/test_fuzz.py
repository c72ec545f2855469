"""Fuzzing every input surface, bounded so the suite stays fast (bench/fuzz.py runs long).

Each test asserts that no exception other than a toolkit error escapes, that a refusal is
a clear one-line message, and that a store is exactly as it was after a refused input.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m365_toolkit import SessionManager, open_store
from m365_toolkit.cli import cli
from m365_toolkit.costs.model import CostRecord
from m365_toolkit.data.transfer import import_file
from m365_toolkit.errors import DamagedRecordWarning, SessionsError
from m365_toolkit.sessions.model import Session

from .test_robustness import COST, SESSION

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same inputs on every run: a failure here is a failure anywhere
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values chosen to hit every edge a field has: wrong types, NaN and infinities, integers
# past 64 bits, timestamps at the ends of the calendar, hostile text, nesting.
EDGE_VALUES = st.sampled_from(
    [None, True, 0, -1, 2**63, 2**64 + 1, 10**30, 1.5, math.nan, math.inf, -math.inf, 1e308,
     "", " ", "x", "\x00", "\ud800", "[/]", "\x1b]0;title\x07", "0001-01-01T00:00:00+05:00",
     "9999-12-31T23:59:59-05:00", "2026-13-01T00:00:00", "NaN", "-1", [], [1], {}, {"a": {}},
     "2026-01-01T00:00:00+00:00"]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | EDGE_VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),  # noqa: E501
    max_leaves=8,
)  # fmt: skip
SESSION_FIELDS = [*SESSION, "events.0.timestamp", "events.0.type", "events.0.seq",
                  "events.0.data", "events.0.description", "metadata.deep"]  # fmt: skip
COST_FIELDS = [*COST, "tokens.input", "tokens.output", "tokens.cached_input",
               "cost.input", "cost.output", "metadata", "session_id", "user"]  # fmt: skip


def mutated(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``record`` with the field at a dotted ``path`` set to ``value`` (or removed)."""
    copy = json.loads(json.dumps(record))
    parts = path.split(".")
    target: Any = copy
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    key: Any = int(parts[-1]) if isinstance(target, list) else parts[-1]
    if value is _REMOVE and isinstance(target, dict):
        target.pop(key, None)
    else:
        target[key] = value
    return copy


_REMOVE = object()


def snapshot(store: Any) -> tuple[Any, ...]:
    sessions = [s for batch in store.scan() for s in batch]
    return store.counts(), sessions, list(store.costs.entries())


def assert_clean(error: SessionsError) -> None:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message, message


def check_import(store: Any, source: Path, body: bytes, fmt: str) -> str:
    """Import ``body``; a refusal must leave the store as it was, an acceptance must leave
    it readable with nothing damaged and nothing JSON cannot hold."""
    source.write_bytes(body)
    before = snapshot(store)
    try:
        import_file(store, source, fmt)
    except SessionsError as exc:
        assert_clean(exc)
        assert snapshot(store) == before
        return "refused"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedRecordWarning)
        json.dumps(snapshot(store)[1:], allow_nan=False)
    return "accepted"


def seeded_store(location: str) -> Any:
    store = open_store(location)
    store.import_sessions([Session.from_dict({**SESSION, "session_id": "seed"})])
    store.costs.import_records([CostRecord.from_entry(COST)])
    return store


@pytest.fixture(params=["memory", "sqlite", "json", "postgres"])
def fuzz_store(request: pytest.FixtureRequest, new_store: Any) -> Any:
    location = "memory:" if request.param == "memory" else str(new_store(request.param))
    with seeded_store(location) as store:
        yield store


@pytest.mark.parametrize("fmt", ["json", "jsonl", "costs"])
def test_import_files_with_a_mutated_field_are_accepted_or_cleanly_refused(
    fuzz_store, tmp_path, fmt
):
    fields = COST_FIELDS if fmt == "costs" else SESSION_FIELDS
    template = COST if fmt == "costs" else SESSION

    @FAST
    @given(
        st.lists(
            st.tuples(st.sampled_from(fields), JSON_VALUES | st.just(_REMOVE)),
            min_size=1,
            max_size=3,
        ),
        st.integers(0, 2**32),
    )
    def run(changes: list[tuple[str, Any]], salt: int) -> None:
        record = {**template}
        if fmt != "costs":
            record["session_id"] = f"fuzz-{salt}"
        for path, value in changes:
            try:
                record = mutated(record, path, value)
            except (TypeError, KeyError, IndexError, ValueError):
                continue  # the path no longer exists in this record
        good = {**template, "session_id": f"good-{salt}"} if fmt != "costs" else template
        records = [good, record]
        if fmt == "jsonl":
            body = "\n".join(json.dumps(r) for r in records).encode()
        else:
            body = json.dumps(records).encode()
        suffix = "jsonl" if fmt == "jsonl" else "json"
        check_import(fuzz_store, tmp_path / f"in.{suffix}", body, "auto" if fmt == "jsonl" else fmt)

    run()


def test_import_files_with_random_bytes_changed_are_accepted_or_cleanly_refused(
    fuzz_store, tmp_path
):
    valid = json.dumps([SESSION, {**SESSION, "session_id": "s-2"}]).encode()

    @FAST
    @given(st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), max_size=4))
    def run(flips: list[tuple[int, int]]) -> None:
        body = bytearray(valid)
        for position, byte in flips:
            body[position] = byte
        check_import(fuzz_store, tmp_path / "in.json", bytes(body), "auto")

    run()


OPTION_VALUES = st.sampled_from(
    ["0", "1", "-1", "inf", "-inf", "nan", "1e308", "1e309", "99999999999", "all", "ALL", "",
     " ", "abc", "7d", "0d", "1s", "999999999d", "1e5d", "9" * 400 + "d", "\x00", "[/]",
     "success", "active", "json", "csv", "--help"]
)  # fmt: skip
COMMANDS = [
    ["sessions", "list", "--days"], ["sessions", "list", "--limit"],
    ["sessions", "list", "--status"], ["sessions", "list", "--type"],
    ["sessions", "list", "--user"], ["sessions", "stats", "--days"],
    ["sessions", "export", "--days"], ["sessions", "export", "--format"],
    ["sessions", "reap", "--older-than"], ["sessions", "prune", "--dry-run", "--older-than"],
    ["costs", "report", "--days"], ["costs", "report", "--by"], ["sessions", "show"],
]  # fmt: skip


def test_cli_options_with_random_values_exit_cleanly(tmp_path):
    location = tmp_path / "s.db"
    with SessionManager(location) as manager:
        manager.complete_session(manager.create_session("audit").session_id)

    @settings(FAST, max_examples=80)
    @given(st.sampled_from(COMMANDS), OPTION_VALUES | st.text(max_size=12))
    def run(command: list[str], value: str) -> None:
        result = CliRunner().invoke(cli, [*command, value, "--store", str(location)])
        assert result.exit_code in (0, 1, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            command, value, result.exception,
        )  # fmt: skip
        assert "Traceback" not in result.output

    run()


def test_store_urls_with_random_options_are_one_line_errors(tmp_path):
    @settings(FAST, max_examples=30)
    @given(st.sampled_from(["busy_timeout", "synchronous", "other"]), OPTION_VALUES)
    def run(option: str, value: str) -> None:
        location = f"{tmp_path}/s.db?{option}={value}"
        result = CliRunner().invoke(cli, ["sessions", "list", "--store", location])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)

    run()


def test_sqlite_stores_with_random_bits_flipped_never_crash_the_cli(tmp_path):
    location = tmp_path / "s.db"
    with SessionManager(location) as manager:
        for number in range(20):
            created = manager.create_session("audit", metadata={"note": "n" * 30, "i": number})
            created.add_event("step", "d" * 20, {"k": "v" * 20})
            if number % 2:
                manager.complete_session(created.session_id)
    pristine = location.read_bytes()

    @settings(FAST, max_examples=30)
    @given(st.integers(0, 2**32), st.sampled_from([["list", "--days", "all"], ["export"],
                                                   ["stats"], ["reap", "--dry-run"]]))  # fmt: skip
    def run(seed: int, command: list[str]) -> None:
        rng = random.Random(seed)
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        location.write_bytes(bytes(data))
        result = CliRunner().invoke(cli, ["sessions", *command, "--store", str(location)])
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )

    run()


def test_json_stores_with_a_mutated_record_read_the_others_and_lose_nothing(tmp_path):
    location = tmp_path / "s.json"

    @settings(FAST, max_examples=20)
    @given(st.sampled_from(SESSION_FIELDS), JSON_VALUES)
    def run(path: str, value: Any) -> None:
        try:
            bad = mutated({**SESSION, "session_id": "bad"}, path, value)
        except (TypeError, KeyError, IndexError, ValueError):
            return
        location.write_text(json.dumps([{**SESSION, "session_id": "good"}, bad]), encoding="utf-8")
        # --json: showing stored text literally in rich tables is the rendering's own tests'
        for command in (["list", "--days", "all", "--json"], ["export"], ["stats"], ["reap"]):
            result = CliRunner().invoke(cli, ["sessions", *command, "--store", str(location)])
            assert result.exit_code in (0, 1), result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DamagedRecordWarning)
            try:
                with SessionManager(location) as manager:
                    manager.create_session("new")
            except SessionsError as exc:
                assert_clean(exc)
        kept = {
            json.dumps(record, sort_keys=True)
            for record in json.loads(location.read_text(encoding="utf-8"))
        }
        good = {**SESSION, "session_id": "good"}
        assert {json.dumps(good, sort_keys=True), json.dumps(bad, sort_keys=True)} <= kept

    run()


def test_sqlite_rows_updated_to_random_text_are_named_or_read(tmp_path):
    location = tmp_path / "s.db"
    with SessionManager(location) as manager:
        session_id = manager.create_session("audit", metadata={"a": 1}).session_id
        manager.create_session("other")
    pristine = location.read_bytes()

    @settings(FAST, max_examples=30)
    @given(
        st.sampled_from(
            [
                "metadata",
                "user_name",
                "start_time",
                "status",
                "duration_seconds",
                "pid",
                "host",
                "operation_type",
            ]
        ),  # fmt: skip
        st.binary(max_size=12)
        | st.text(max_size=12)
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(),
    )
    def run(column: str, value: Any) -> None:
        location.write_bytes(pristine)
        with sqlite3.connect(location) as conn:
            conn.execute(
                f"UPDATE sessions SET {column} = ? WHERE session_id = ?", (value, session_id)
            )
        conn.close()
        for command in (["list", "--days", "all", "--json"], ["export"], ["stats"],
                        ["show", session_id, "--json"]):  # fmt: skip
            result = CliRunner().invoke(cli, ["sessions", *command, "--store", str(location)])
            assert result.exit_code in (0, 1), (command, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                command, column, value, result.exception,
            )  # fmt: skip

    run()
