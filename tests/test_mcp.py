"""The MCP server, through the SDK's in-process client and a real stdio subprocess."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from m365_toolkit import SessionManager, Status
from m365_toolkit.mcp_server import build_server
from m365_toolkit.mcp_server.server import READ_ONLY, SessionTracking, TrackedTool, current_call

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "standins" / "fake_audit.py"
SAMPLES = ROOT / "src" / "m365_toolkit" / "samples"
TOOLS = {
    "list_sessions", "get_session", "session_statistics", "cost_report",
    "get_compliance_status", "get_security_dashboard", "run_security_audit",
    "analyze_sharepoint_permissions",
    "remediate_security_issues",
}  # fmt: skip

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "toolkit"
    (folder / "data").mkdir(parents=True)
    shutil.copy(SAMPLES / "sharepoint_permissions_sample.csv", folder / "data" / "perms.csv")
    return folder


def standin(mode: str) -> str:
    return f"{sys.executable} {STANDIN} {mode}"


def sessions_of(root: Path) -> list[dict[str, Any]]:
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        return manager.get_session_history(days=None)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


async def call(root: Path, tool: str, arguments: dict[str, Any] | None = None, **server: Any):
    async with Client(build_server(root, **server)) as client:
        return await client.call_tool(tool, arguments or {})


async def test_every_tool_is_listed_with_honest_annotations(root):
    async with Client(build_server(root)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    assert all(tools[name].description for name in TOOLS)
    assert tools["remediate_security_issues"].annotations.destructive_hint is True
    for name in ("list_sessions", "get_session", "session_statistics", "cost_report",
                 "get_compliance_status"):  # fmt: skip
        assert tools[name].annotations.read_only_hint is True
    assert tools["run_security_audit"].annotations.read_only_hint is False


async def test_every_tool_has_an_output_schema_naming_its_fields_and_the_session(root):
    async with Client(build_server(root)) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        properties = (tool.output_schema or {}).get("properties", {})
        assert "session_id" in properties and len(properties) >= 2, tool.name


async def test_every_tool_is_tracked_by_the_middleware_with_an_operation_type(root):
    server = build_server(root)
    [tracking] = [m for m in server.middleware if isinstance(m, SessionTracking)]
    assert set(tracking.tools) == TOOLS
    assert tracking.tools["run_security_audit"].operation_type == "security_audit"
    assert tracking.tools["list_sessions"].defaults["limit"] == 50


async def test_a_session_has_one_start_and_one_complete_event_and_steps_are_progress(
    root, monkeypatch
):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    monkeypatch.setenv("M365_TOOLKIT_REMEDIATION_COMMAND", standin("remediate"))
    async with Client(build_server(root)) as client:
        await client.call_tool("run_security_audit", {})
        await client.call_tool("analyze_sharepoint_permissions", {"input_file": "data/perms.csv"})
        await client.call_tool("remediate_security_issues", {})
        await client.call_tool("run_security_audit", {"spo_admin_url": "http://x"})
    for stored in sessions_of(root):
        types = [e["type"] for e in stored["events"]]
        assert types.count("start") == 1 and types[0] == "start", types
        assert types.count("complete") == 1 and types[-1] == "complete", types
        assert set(types[1:-1]) <= {"progress", "error"}, types
    audit = sessions_of(root)[-1]
    [done] = [e for e in audit["events"] if e["description"].startswith("Audit completed")]
    assert done["type"] == "progress"
    assert set(done["data"]) == {"results_file", "compliance_percent"}
    assert sessions_of(root)[0]["metadata"]["arguments"]["spo_admin_url"] == "http://x"


async def test_a_crashing_tool_is_an_error_naming_its_type_and_session_not_its_text(root):
    server = build_server(root)

    @server.tool(annotations=READ_ONLY)
    async def crash() -> dict[str, Any]:
        """Fail the way a bug would."""
        current_call()
        raise ZeroDivisionError("secret detail")

    [tracking] = [m for m in server.middleware if isinstance(m, SessionTracking)]
    tracking.tools["crash"] = TrackedTool.of(crash, "session_query")
    async with Client(server) as client:
        result = await client.call_tool("crash", {})
    [stored] = sessions_of(root)
    assert result.is_error
    assert "internal error (ZeroDivisionError)" in text_of(result)
    assert stored["session_id"] in text_of(result) and "secret detail" not in text_of(result)
    assert stored["status"] == "error"
    assert stored["events"][-2]["data"]["message"] == "secret detail"


async def test_a_security_audit_runs_the_script_and_records_the_guides_events(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(build_server(root)) as client:
        result = await client.call_tool(
            "run_security_audit",
            {"spo_admin_url": "https://contoso-admin.sharepoint.com", "skip_purview": True},
            progress_callback=on_progress,
        )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    session_id = data["session_id"]
    assert session_id in text_of(result)
    summary = data["summary"]
    assert summary["total"] == sum(summary["by_status"].values())
    call = json.loads((root / "calls.jsonl").read_text(encoding="utf-8"))
    assert call["params"] == ["-Timestamped", "-SPOAdminUrl",
                              "https://contoso-admin.sharepoint.com", "-SkipPurview"]  # fmt: skip
    [stored] = sessions_of(root)
    assert stored["session_id"] == session_id and stored["status"] == "success"
    assert stored["operation_type"] == "security_audit"
    assert stored["metadata"]["arguments"]["skip_purview"] is True
    descriptions = [e["description"] for e in stored["events"]]
    assert descriptions[1:5] == [
        "Starting M365 CIS security audit",
        "Building PowerShell command",
        "Executing PowerShell audit script",
        "Audit script completed, parsing results",
    ]
    assert descriptions[5] == f"Audit completed with {summary['compliance_percent']:g}% compliance"
    assert [message for _, _, message in progress][:3] == descriptions[2:5]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", "exited with code 3: Connect-ExchangeOnline: AADSTS50076"),
        ("malformed", "m365_cis_audit"),
        ("nothing", "wrote no m365_cis_audit*.json"),
    ],
)
async def test_a_failing_audit_is_an_error_result_and_an_error_session(
    root, monkeypatch, mode, message
):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin(mode))
    result = await call(root, "run_security_audit")
    assert result.is_error
    [stored] = sessions_of(root)
    assert stored["status"] == "error"
    assert message in text_of(result)
    assert stored["session_id"] in text_of(result)
    assert "Traceback" not in text_of(result)


async def test_a_one_object_results_file_is_accepted(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("single"))
    result = await call(root, "run_security_audit", {"timestamped": False})
    assert not result.is_error, text_of(result)
    assert result.structured_content["summary"]["total"] == 1


async def test_a_hung_audit_is_stopped_at_the_timeout(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("hang"))
    result = await call(root, "run_security_audit", audit_timeout=1.5)
    assert result.is_error and "did not finish within 1.5 seconds" in text_of(result)
    assert sessions_of(root)[0]["status"] == "error"
    _assert_all_gone(root)


async def test_a_cancelled_call_kills_the_script_and_records_cancelled(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("hang"))
    async with Client(build_server(root)) as client:
        with anyio.move_on_after(3):
            await client.call_tool("run_security_audit", {})
        with anyio.fail_after(10):
            while not sessions_of(root) or sessions_of(root)[0]["status"] == "active":
                await anyio.sleep(0.05)
    [stored] = sessions_of(root)
    assert stored["status"] == "cancelled"
    _assert_all_gone(root)


def _assert_all_gone(root: Path) -> None:
    for pid in (root / "pids.txt").read_text(encoding="utf-8").split():
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


async def test_a_missing_pwsh_is_explained(root, monkeypatch, tmp_path):
    monkeypatch.delenv("M365_TOOLKIT_AUDIT_COMMAND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = await call(root, "run_security_audit")
    assert result.is_error
    assert "Cannot run 'pwsh'" in text_of(result) and "M365_TOOLKIT_AUDIT_COMMAND" in text_of(
        result
    )


async def test_compliance_status_reads_the_newest_results_and_the_trend(root, monkeypatch):
    empty = await call(root, "get_compliance_status")
    assert empty.is_error and "audit" in text_of(empty).lower()
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    await call(root, "run_security_audit")
    await call(root, "run_security_audit")
    result = await call(root, "get_compliance_status")
    assert not result.is_error, text_of(result)
    assert result.structured_content["session_id"] in text_of(result)
    checks = [s["status"] for s in sessions_of(root) if s["operation_type"] == "compliance_status"]
    assert checks == ["success", "error"]  # newest first


async def test_sharepoint_analysis_writes_a_workbook_inside_the_root_only(root):
    result = await call(root, "analyze_sharepoint_permissions", {"input_file": "data/perms.csv"})
    assert not result.is_error, text_of(result)
    workbook = Path(result.structured_content["workbook"])
    assert workbook.is_file() and workbook.is_relative_to(root / "output" / "reports")
    assert result.structured_content["analysis"]
    for outside in ("../secrets.csv", "/etc/passwd", "data/../../x.csv"):
        refused = await call(root, "analyze_sharepoint_permissions", {"input_file": outside})
        assert refused.is_error and "inside the toolkit folder" in text_of(refused)
    stored = sessions_of(root)
    assert [s["status"] for s in stored] == ["error", "error", "error", "success"]
    rows = result.structured_content["analysis"]["row_count"]
    assert f"Analysed {rows} permission entries" in [e["description"] for e in stored[-1]["events"]]


async def test_remediation_previews_by_default_and_applies_only_when_forced(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_REMEDIATION_COMMAND", standin("remediate"))
    preview = await call(root, "remediate_security_issues")
    assert not preview.is_error, text_of(preview)
    assert preview.structured_content["mode"] == "preview"
    assert "What if" in preview.structured_content["output"]
    refused = await call(root, "remediate_security_issues", {"preview_only": False})
    assert refused.is_error
    assert "preview_only" in text_of(refused) and "force_apply" in text_of(refused)
    applied = await call(root, "remediate_security_issues",
                         {"preview_only": False, "force_apply": True})  # fmt: skip
    assert applied.structured_content["mode"] == "apply"
    calls = [json.loads(line)["params"] for line in
             (root / "calls.jsonl").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    assert calls == [["-WhatIf"], []]
    assert [s["status"] for s in sessions_of(root)] == ["success", "error", "success"]


async def test_query_tools_show_sessions_statistics_and_costs(root):
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        audit = manager.create_session("security_audit", metadata={"client_secret": "s3cr3t"})
        manager.complete_session(audit.session_id)
    async with Client(build_server(root)) as client:
        listed = await client.call_tool("list_sessions", {"operation_type": "security_audit"})
        shown = await client.call_tool("get_session", {"session_id": audit.session_id})
        missing = await client.call_tool("get_session", {"session_id": "nope"})
        stats = await client.call_tool("session_statistics", {"days": 7})
        costs = await client.call_tool("cost_report", {"group_by": "model"})
    assert [s["session_id"] for s in listed.structured_content["sessions"]] == [audit.session_id]
    assert shown.structured_content["session"]["metadata"]["client_secret"] == "[REDACTED]"
    assert "s3cr3t" not in text_of(shown)
    assert missing.is_error and "list_sessions" in text_of(missing)
    assert stats.structured_content["statistics"]["by_operation_type"]["security_audit"] == 1
    assert costs.structured_content["groups"] == []
    kinds = [s["operation_type"] for s in sessions_of(root)]
    assert kinds.count("session_query") == 5


async def test_the_real_server_over_stdio_answers_a_real_client(root, monkeypatch):
    monkeypatch.setenv("M365_TOOLKIT_AUDIT_COMMAND", standin("ok"))
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "m365_toolkit", "mcp", "--root", str(root)],
        env={"M365_TOOLKIT_AUDIT_COMMAND": standin("ok"),
             "M365_TOOLKIT_REMEDIATION_COMMAND": standin("remediate")},
        cwd=str(root),
    )  # fmt: skip
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == TOOLS
        results = {
            "run_security_audit": await client.call_tool("run_security_audit", {}),
            "get_compliance_status": await client.call_tool("get_compliance_status", {}),
            "analyze_sharepoint_permissions": await client.call_tool(
                "analyze_sharepoint_permissions", {"input_file": "data/perms.csv"}
            ),
            "remediate_security_issues": await client.call_tool("remediate_security_issues", {}),
            "list_sessions": await client.call_tool("list_sessions", {}),
            "session_statistics": await client.call_tool("session_statistics", {}),
            "cost_report": await client.call_tool("cost_report", {}),
            "get_security_dashboard": await client.call_tool("get_security_dashboard", {}),
        }
        first = results["run_security_audit"].structured_content["session_id"]
        results["get_session"] = await client.call_tool("get_session", {"session_id": first})
    for name, result in results.items():
        assert not result.is_error, (name, text_of(result))
        assert result.structured_content["session_id"] in text_of(result)
    stored = {s["session_id"]: s for s in sessions_of(root)}
    assert len(stored) == len(TOOLS)
    assert {s["status"] for s in stored.values()} == {"success"}
    assert stored[first]["pid"] != os.getpid()  # recorded by the server process
    assert Status(stored[first]["status"]) is Status.SUCCESS


def _readme_json_blocks() -> list[dict[str, Any]]:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


async def test_the_readme_configs_start_the_server_as_written(root):
    blocks = _readme_json_blocks()
    [claude] = [b["mcpServers"]["m365-toolkit"] for b in blocks if "mcpServers" in b]
    [vscode] = [b["servers"]["m365-toolkit"] for b in blocks if "servers" in b]
    assert vscode["type"] == "stdio" and vscode["args"][0] == "mcp"
    script = shutil.which("m365-toolkit", path=str(Path(sys.executable).parent))
    assert script and claude["command"].endswith("/.venv/bin/m365-toolkit")
    args = [arg.replace("/path/to/m365-toolkit", str(root)) for arg in claude["args"]]
    async with Client(StdioServerParameters(command=script, args=args)) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        result = await client.call_tool("session_statistics", {})
    assert not result.is_error
    assert [s["operation_type"] for s in sessions_of(root)] == ["session_query"]


async def test_the_server_answers_over_streamable_http_on_loopback(root):
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "m365_toolkit", "mcp", "--transport", "streamable-http",
         "--host", "127.0.0.1", "--port", str(port), "--root", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with anyio.fail_after(20):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    assert server.poll() is None, server.stderr.read().decode()
                    await anyio.sleep(0.1)
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
                result = await client.call_tool("list_sessions", {})
        assert not result.is_error, text_of(result)
        assert result.structured_content["session_id"] in text_of(result)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stderr.close()
    assert [s["status"] for s in sessions_of(root)] == ["success"]
