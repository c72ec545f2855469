"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection): text cells that
begin with = + - @ TAB or CR get a leading single quote; numbers stay numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager
from m365_toolkit._util.values import csv_cell
from m365_toolkit.cli import cli

HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|'/C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_a_spreadsheet_would_run_gets_a_quote(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["admin", "", "1=1", "a-b", "'quoted", 0, -1, -2.5, 3.25, None])
def test_other_text_and_every_number_are_kept(value):
    assert csv_cell(value) == value


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_sessions_export_neutralises_hostile_cells(tmp_path: Path):
    store = tmp_path / "sessions.db"
    with SessionManager(store) as manager:
        for text in HOSTILE:
            manager.create_session(text, user=text, metadata={"n": -1}).complete()
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(
        cli, ["sessions", "export", "--format", "csv", "-o", str(out), "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert [(r["user"], r["operation_type"]) for r in rows] == [("'" + t, "'" + t) for t in HOSTILE]
    for row in rows:
        assert row["metadata"] == '{"n": -1}'
        assert float(row["duration_seconds"]) >= 0 and int(row["events"]) == 2
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row.values())


def test_costs_export_neutralises_hostile_cells_and_keeps_numbers(tmp_path: Path):
    pytest.importorskip("genai_prices")
    from m365_toolkit.costs.tracker import GPT5CostTracker

    store = tmp_path / "sessions.db"
    model = "=cmd|'/C calc'!A0"
    with SessionManager(store) as manager:
        session = manager.create_session("-op", user="@admin")
        tracker = GPT5CostTracker(
            manager=manager, session_id=session.session_id, user="@admin",
            prices={model: {"input": 1, "cached_input": 0.1, "output": 2}},
        )  # fmt: skip
        tracker.track_request(model, prompt_tokens=10, completion_tokens=5, request_type="+type")
    out = tmp_path / "costs.csv"
    result = CliRunner().invoke(cli, ["costs", "export", "--csv", str(out), "--store", str(store)])
    assert result.exit_code == 0, result.output
    [row] = _rows(out)
    assert (row["model"], row["request_type"], row["user"], row["operation_type"]) == (
        "'" + model, "'+type", "'@admin", "'-op"
    )  # fmt: skip
    assert int(row["input_tokens"]) == 10 and float(row["total_cost"]) > 0
