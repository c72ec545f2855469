"""Money has one representation in every JSON document the toolkit writes (issue 9): the
exact decimal as text, in plain notation ("0.0000003", "0.021875"), never a float."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.mcp_server import build_server

pytest.importorskip("genai_prices")
from m365_toolkit.costs.tracker import GPT5CostTracker  # noqa: E402

PRICE = {"gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10},
         "gpt-5-nano": {"input": 0.05, "cached_input": 0.005, "output": 0.4}}  # fmt: skip
# 1500 in + 2000 out of gpt-5, and 6 input tokens of gpt-5-nano ($0.0000003)
EXPECTED = Decimal("0.021875") + Decimal("0.0000003")
MONEY_KEYS = ("cost", "usd", "spent", "limit", "remaining", "input", "output", "total")


def money_values(value: Any, key: str = "", in_cost: bool = False) -> list[tuple[str, Any]]:
    """Every value under a money key (inside a ``cost`` object: all its parts)."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for name, item in value.items():
            money = "cost" in name or "usd" in name or name in ("spent", "limit", "remaining")
            inside = in_cost or name == "cost"
            if isinstance(item, (dict, list)):
                found += money_values(item, name, inside and name != "tokens")
            elif money or (in_cost and name in MONEY_KEYS):
                found.append((name, item))
    elif isinstance(value, list):
        for item in value:
            found += money_values(item, key, in_cost)
    return found


def assert_exact_text(document: Any) -> list[tuple[str, Any]]:
    found = money_values(document)
    assert found, document
    for name, item in found:
        if isinstance(item, bool) or item is None:
            continue
        assert isinstance(item, str), (name, item)
        assert "E" not in item and Decimal(item) >= 0, (name, item)
    return found


@pytest.fixture
def store(tmp_path: Path) -> Path:
    location = tmp_path / "sessions.db"
    with SessionManager(location) as manager:
        session = manager.create_session("gpt5_analysis")
        tracker = GPT5CostTracker(manager=manager, session_id=session.session_id, prices=PRICE)
        tracker.track_request("gpt-5", 1500, 2000)
        tracker.track_request("gpt-5-nano", 6, 0)
        manager.complete_session(session.session_id)
    return location


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    "command",
    [["costs", "report", "--by", "operation"], ["costs", "budget", "--daily", "5"],
     ["sessions", "stats"]],
)  # fmt: skip
def test_cli_json_money_is_exact_text(store, command):
    document = cli_json(*command, "--store", str(store))
    assert_exact_text(document)
    if command[1] == "report":
        assert Decimal(document[0]["cost"]) == EXPECTED
    if command[1] == "stats":
        assert Decimal(document["total_cost_usd"]) == EXPECTED


def test_show_and_the_dashboard_json_give_exact_text(store, tmp_path):
    [listed] = cli_json("sessions", "list", "--store", str(store))
    shown = cli_json("sessions", "show", listed["session_id"], "--store", str(store))
    assert Decimal(shown["cost"]["cost"]) == EXPECTED
    out = tmp_path / "board.json"
    CliRunner().invoke(cli, ["report", "--format", "json", "-o", str(out), "--root",
                             str(tmp_path), "--store", str(store)])  # fmt: skip
    board = json.loads(out.read_text(encoding="utf-8"))
    assert Decimal(board["costs"]["total"]) == EXPECTED
    assert_exact_text(board["costs"])


def test_mcp_results_give_exact_text(store, tmp_path):
    async def calls() -> list[Any]:
        async with Client(build_server(tmp_path, store)) as client:
            return [
                (await client.call_tool(tool, args)).structured_content
                for tool, args in (("cost_report", {}), ("session_statistics", {}),
                                   ("list_sessions", {}))
            ]  # fmt: skip

    report, stats, _ = anyio.run(calls)
    assert Decimal(report["total_usd"]) == EXPECTED
    assert Decimal(stats["statistics"]["total_cost_usd"]) == EXPECTED
    for document in (report, stats):
        assert_exact_text(document)


def test_the_json_stores_cost_log_and_the_tracker_result_give_exact_text(tmp_path):
    location = tmp_path / "trail.json"
    with SessionManager(location) as manager:
        session = manager.create_session("gpt5_analysis")
        tracker = GPT5CostTracker(manager=manager, session_id=session.session_id, prices=PRICE)
        result = tracker.track_request("gpt-5-nano", 6, 0)
    assert result["request"]["cost"]["total"] == "0.0000003"
    assert result["session_total"]["cost"] == "0.0000003"
    log = json.loads((tmp_path / "trail.costs.json").read_text(encoding="utf-8"))
    assert log[0]["cost"] == {"input": "0.0000003", "cached_input": "0", "output": "0",
                              "total": "0.0000003"}  # fmt: skip
    assert isinstance(tracker.get_daily_cost(), float)  # the guide's scalar API stays a number


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "0"), ("-0.000", "0"), ("0E-12", "0"), ("1E+2", "100"), ("10.50", "10.5"),
        ("3E-7", "0.0000003"), ("-1.50", "-1.5"),
        # More digits than the decimal context's 28: written whole, never rounded.
        ("12345678901234567890.000000000001", "12345678901234567890.000000000001"),
    ],
)  # fmt: skip
def test_money_text_is_the_exact_decimal_in_plain_notation(amount, text):
    from m365_toolkit.costs.model import usd_text

    assert usd_text(Decimal(amount)) == text
