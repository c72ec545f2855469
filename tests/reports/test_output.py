"""The dashboard files: the CLI command, the JSON document, the page's safety, the MCP tool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.mcp_server import build_server
from m365_toolkit.reports import SCHEMA, render_html, write_dashboard
from m365_toolkit.reports.html import csp_hash

from .seeding import HOSTILE, PASS_RATES, seed

TOP_LEVEL = {"schema", "header", "compliance", "operations", "costs"}


def run_report(root: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["report", "--root", str(root), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_report_writes_the_page_named_after_its_session_and_the_session_names_it(seeded, root):
    seeded.close()
    out = run_report(root)
    path = Path(out["file"])
    assert path == root / "output" / "reports" / "security" / f"dashboard_{out['session_id']}.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert out["bytes"] == path.stat().st_size and out["pass_rate_percent"] == PASS_RATES[-1]
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        session = manager.get_session(out["session_id"])
    assert session is not None and session.operation_type == "dashboard_generation"
    assert session.status.value == "success"
    assert [e.data.get("file") for e in session.events if e.type == "progress"] == [str(path)]


def test_report_prints_the_file_and_the_session(seeded, root):
    seeded.close()
    result = CliRunner().invoke(cli, ["report", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert re.search(r"^Dashboard: .*dashboard_.*\.html$", result.output, re.M)
    assert "Session: " in result.output


def test_the_json_format_is_one_document_with_the_documented_keys(seeded, root, tmp_path):
    seeded.close()
    target = tmp_path / "board.json"
    out = run_report(root, "--format", "json", "-o", str(target), "--days", "36500")
    assert out["file"] == str(target)
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert set(doc) == TOP_LEVEL and doc["schema"] == SCHEMA
    assert (
        doc["header"]["session_id"] == out["session_id"] and doc["header"]["period_days"] == 36500
    )
    assert [run["pass_rate_percent"] for run in doc["compliance"]["trend"]] == PASS_RATES
    assert doc["costs"]["total"] == "1.875"  # money as exact decimal text
    documented = (Path(__file__).parents[2] / "docs" / "dashboard.md").read_text(encoding="utf-8")
    for key in TOP_LEVEL:
        assert f"`{key}`" in documented


def test_the_page_refuses_to_overwrite_the_store(seeded, root):
    seeded.close()
    store = root / "output" / "sessions" / "sessions.db"
    result = CliRunner().invoke(cli, ["report", "--root", str(root), "-o", str(store)])
    assert result.exit_code == 1 and "audit trail" in result.output


def test_the_csp_names_the_exact_inline_blocks_and_nothing_external(seeded, root):
    page = write_dashboard(seeded.store, root, clock=seeded.clock).path.read_text("utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(script) == 1
    assert csp.startswith("default-src 'none';")
    assert f"style-src {csp_hash(style)};" in csp and f"script-src {csp_hash(script[0])};" in csp
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)


def test_hostile_text_stays_text_in_the_page_and_the_json_block(root):
    with seed(root, root / "s.db", hostile=True) as manager:
        page = render_html(_board(manager, root))
    assert "window.pwned" in page  # shown, as text
    assert page.count("<script") == 2  # the JSON block and the page's own script
    assert "<img" not in page and 'onerror="' not in page
    assert "\u202e" not in page and "[U+202E]" in page and "\x1b" not in page
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      page, re.S).group(1)  # fmt: skip
    assert "<" not in block and "-->" not in block
    data = json.loads(block)
    assert HOSTILE in [c["title"] for c in data["compliance"]["controls"]]  # data intact


def _board(manager: SessionManager, root: Path):
    from m365_toolkit.reports import build

    return build(manager.store, root, clock=manager.clock, budgets=())


def _dashboard_tool(root: Path, arguments: dict):
    """``get_security_dashboard`` called through the SDK's in-process client."""

    async def call():
        async with Client(build_server(root)) as client:
            return await client.call_tool("get_security_dashboard", arguments)

    return anyio.run(call)


@pytest.mark.parametrize("output_format", ["html", "json"])
def test_the_mcp_tool_writes_the_dashboard_in_its_own_session(seeded, root, output_format):
    seeded.close()
    result = _dashboard_tool(root, {"include_historical": True, "output_format": output_format})
    assert not result.is_error, result.content
    out = result.structured_content
    path = Path(out["file"])
    assert path.name == f"dashboard_{out['session_id']}.{output_format}" and path.is_file()
    assert out["format"] == output_format and out["bytes"] == path.stat().st_size
    summary = out["summary"]
    assert summary["runs"] == len(PASS_RATES)
    assert summary["latest_pass_rate_percent"] == PASS_RATES[-1]
    assert summary["drift_counts"]["regressed"] == 1 and summary["stale_sessions"] == 1
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        session = manager.get_session(out["session_id"])
    assert session is not None and session.operation_type == "dashboard_generation"
    assert any(e.data.get("file") == str(path) for e in session.events)


def test_the_mcp_tool_without_history_has_one_run(seeded, root):
    seeded.close()
    out = _dashboard_tool(root, {"include_historical": False}).structured_content
    assert out["summary"]["runs"] == 1 and out["format"] == "html"


@pytest.mark.parametrize("verify", [True, False])
def test_the_mcp_tool_verifies_the_trail_unless_told_not_to(seeded, root, verify):
    seeded.close()
    out = _dashboard_tool(root, {"output_format": "json", "verify_integrity": verify})
    out = out.structured_content
    header = json.loads(Path(out["file"]).read_text(encoding="utf-8"))["header"]
    assert (header["integrity"]["status"] != "not checked") is verify, header["integrity"]
