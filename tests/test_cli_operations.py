"""``m365-toolkit audit`` and ``sharepoint``: real stand-in scripts, real SQLite stores."""

import json
import shutil
import sys
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.mcp_server import build_server

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "standins" / "fake_audit.py"
SAMPLES = ROOT / "src" / "m365_toolkit" / "samples"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "toolkit"
    folder.mkdir()
    shutil.copy(SAMPLES / "sharepoint_permissions_sample.csv", folder / "perms.csv")
    return folder


def standin(mode: str) -> str:
    return f"{sys.executable} {STANDIN} {mode}"


def run(root: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--root", str(root)], catch_exceptions=False)


def sessions_of(root: Path) -> list[dict]:
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        return manager.get_session_history(days=None)


def test_audit_run_runs_the_script_and_records_a_security_audit_session(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    result = run(root, "audit", "run", "--spo-admin-url", "https://contoso-admin.sharepoint.com",
                 "--skip-purview", "--no-timestamped", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    call = json.loads((root / "calls.jsonl").read_text(encoding="utf-8"))
    assert call["params"] == ["-SPOAdminUrl", "https://contoso-admin.sharepoint.com",
                              "-SkipPurview"]  # fmt: skip
    [stored] = sessions_of(root)
    assert stored["session_id"] == data["session_id"] and stored["status"] == "success"
    assert stored["operation_type"] == "security_audit"
    assert stored["metadata"]["via"] == "cli"
    assert stored["metadata"]["arguments"]["skip_purview"] is True
    types = [e["type"] for e in stored["events"]]
    assert types == ["start"] + ["progress"] * 5 + ["complete"]
    percent = data["summary"]["compliance_percent"]
    assert stored["events"][-2]["description"] == f"Audit completed with {percent:g}% compliance"


def test_audit_run_shows_the_summary_as_tables(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    result = run(root, "audit", "run")
    assert result.exit_code == 0, result.output
    assert "76.47% compliant" in result.output and "Failed controls" in result.output
    assert "Executing PowerShell audit script" in result.stderr


@pytest.mark.parametrize(
    ("mode", "message"),
    [("fail", "exited with code 3: Connect-ExchangeOnline"), ("nothing", "wrote no m365_cis")],
)
def test_a_failing_audit_is_one_line_on_stderr_exit_1_and_an_error_session(
    root, monkeypatch, mode, message
):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin(mode))
    result = run(root, "audit", "run", "--json")
    assert result.exit_code == 1
    [stored] = sessions_of(root)
    assert stored["status"] == "error"
    [line] = result.stderr.strip().splitlines()
    assert message in line and stored["session_id"] in line
    assert result.stdout == ""


def test_a_hung_audit_is_stopped_at_the_timeout(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("hang"))
    result = run(root, "audit", "run", "--timeout", "1.5")
    assert result.exit_code == 1 and "did not finish within 1.5 seconds" in result.stderr
    assert sessions_of(root)[0]["status"] == "error"


def test_audit_status_matches_the_mcp_tool_and_is_a_compliance_status_session(root, monkeypatch):
    empty = run(root, "audit", "status")
    assert empty.exit_code == 1 and "Run the CIS audit first" in empty.stderr
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    assert run(root, "audit", "run", "--json").exit_code == 0
    assert run(root, "audit", "run", "--json").exit_code == 0
    result = run(root, "audit", "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["trend"]["failed_change"] == 0 and data["results_files"] == 2

    async def over_mcp() -> dict:
        async with Client(build_server(root)) as client:
            return (await client.call_tool("get_compliance_status", {})).structured_content

    tool = anyio.run(over_mcp)
    assert tool["summary"] == data["summary"] and tool["trend"] == data["trend"]
    kinds = [(s["operation_type"], s["status"]) for s in sessions_of(root)]
    assert kinds.count(("compliance_status", "success")) == 2
    assert kinds.count(("compliance_status", "error")) == 1
    text = run(root, "audit", "status")
    assert "Trend: +0 points of compliance" in text.output


def test_sharepoint_analyze_writes_the_workbook_and_records_a_session(root):
    result = run(root, "sharepoint", "analyze", str(root / "perms.csv"), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    workbook = Path(data["workbook"])
    assert workbook.is_file() and workbook.is_relative_to(root / "output" / "reports")
    [stored] = sessions_of(root)
    assert stored["operation_type"] == "sharepoint_analysis" and stored["status"] == "success"
    rows = data["analysis"]["row_count"]
    assert stored["events"][-2]["description"] == f"Analysed {rows} permission entries"
    shown = run(root, "sharepoint", "analyze", str(root / "perms.csv"))
    assert "anyone (anonymous) sharing link(s)" in shown.output


def test_sharepoint_analyze_of_a_bad_export_is_a_clean_error(root):
    bad = root / "bad.csv"
    bad.write_text("just,some,columns\n", encoding="utf-8")
    result = run(root, "sharepoint", "analyze", str(bad))
    assert result.exit_code == 1 and "lacks the required column(s)" in result.stderr
    assert sessions_of(root)[0]["status"] == "error"
