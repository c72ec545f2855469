"""``SessionManager.import_json`` reads the guide's session log with the checks every import
has (issue 9): one clear error naming the record and field, never a traceback, and nothing
stored from a file it refuses; a cost log is not taken for sessions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from m365_toolkit import SessionManager
from m365_toolkit.errors import SessionsError

START = "2026-01-01T00:00:00+00:00"


def session(**fields: object) -> dict[str, object]:
    record: dict[str, object] = {
        "session_id": "s-1", "user": "alice", "operation_type": "security_audit",
        "metadata": {}, "start_time": START, "end_time": "2026-01-01T00:01:00+00:00",
        "status": "success", "duration_seconds": 60.0, "events": [],
    }  # fmt: skip
    record.update(fields)
    return record


def nested(depth: int) -> bytes:
    """A session whose metadata nests ``depth`` objects deep, as JSON text."""
    text = json.dumps([session(metadata="HERE")])
    return text.replace('"HERE"', '{"a": ' * depth + "1" + "}" * depth).encode()


CASES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "utf-16": (json.dumps([session()]).encode("utf-16"), ("UTF-16",)),
    "not utf-8": (b'[{"session_id": "\xff"}]', ("not UTF-8",)),
    "record not an object": (json.dumps([session(), 5]).encode(), ("record 2", "not an object")),
    "bad field in record 2": (
        json.dumps([session(), session(session_id="s-2", duration_seconds="slow")]).encode(),
        ("record 2", "duration_seconds"),
    ),
    "deep metadata": (
        nested(500), ("record 1", "deep"),
    ),
    "deep file": (("[" * 100_000 + "]" * 100_000).encode(), ("nests too deeply",)),
    "huge integer": (b'[{"pid": ' + b"9" * 5000 + b"}]", ("digits",)),
    "NaN duration": (
        json.dumps([session(duration_seconds=float("nan"))]).encode(), ("record 1", "duration"),
    ),
    "a cost log": (
        json.dumps([{"timestamp": START, "model": "gpt-5", "cost": {"total": 0.1}}]).encode(),
        ("cost", "sessions import"),
    ),
    "not an array": (b'{"session_id": "s-1"}', ("not an array",)),
}  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_a_bad_file_is_one_clear_error_and_stores_nothing(tmp_path: Path, name: str):
    body, says = CASES[name]
    source = tmp_path / "session_log.json"
    source.write_bytes(body)
    with SessionManager(tmp_path / "s.db") as manager:
        before = manager.get_session_history(days=None)
        with pytest.raises(SessionsError) as caught:
            manager.import_json(source)
        after = manager.get_session_history(days=None)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 1_000, message[:300]
    assert str(source) in message
    for word in says:
        assert word.lower() in message.lower(), message
    assert after == before


def test_a_good_file_is_still_imported_once(tmp_path: Path):
    source = tmp_path / "session_log.json"
    source.write_text(json.dumps([session(), session(session_id="s-2")]), encoding="utf-8-sig")
    with SessionManager(tmp_path / "s.db") as manager:
        first, again = manager.import_json(source), manager.import_json(source)
    assert (first.imported, first.skipped, again.imported, again.skipped) == (2, 0, 0, 2)
