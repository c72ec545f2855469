"""The MCP server under hostile or broken input (issue 9): strict arguments for every tool,
every call a session, clean errors with short quotes, one log line per event, reports named
after their session, and ``m365-toolkit mcp`` refusing a missing root or a broken store.

Over the SDK's in-process client and over a real ``m365-toolkit mcp`` stdio subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from m365_toolkit import SessionManager
from m365_toolkit._util.atomic import atomic_binary_file
from m365_toolkit.errors import StoreError
from m365_toolkit.mcp_server import build_server
from m365_toolkit.mcp_server.server import READ_ONLY, current_call
from m365_toolkit.mcp_server.tracking import UNLISTED_TOOL

ROOT = Path(__file__).resolve().parents[1]
STANDINS = ROOT / "tests" / "standins"
SAMPLES = ROOT / "src" / "m365_toolkit" / "samples"
BIG = "x" * 1_000_000

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "toolkit"
    for site in ("siteA", "siteB"):
        (folder / site).mkdir(parents=True)
        shutil.copy(SAMPLES / "sharepoint_permissions_sample.csv", folder / site / "export.csv")
    return folder


@pytest.fixture(autouse=True)
def scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, mode in (("AUDIT", "ok"), ("REMEDIATION", "remediate")):
        monkeypatch.setenv(f"M365_TOOLKIT_{variable}_COMMAND", standin(mode))


def standin(mode: str) -> str:
    return f"{sys.executable} {STANDINS / 'fake_audit.py'} {mode}"


def sessions_of(root: Path) -> list[dict[str, Any]]:
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        return manager.get_session_history(days=None)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


def script_calls(root: Path) -> list[list[str]]:
    log = root / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line)["params"] for line in log.read_text(encoding="utf-8").splitlines()]


@asynccontextmanager
async def stdio_server(root: Path, stderr: Path, *args: str, script: Path | None = None):
    """A real ``m365-toolkit mcp`` subprocess (or a stand-in of it); its stderr to a file."""
    command = [str(script)] if script else ["-m", "m365_toolkit", "mcp"]
    params = StdioServerParameters(
        command=sys.executable,
        args=[*command, "--root", str(root), *args],
        env={"M365_TOOLKIT_AUDIT_COMMAND": standin("ok"),
             "M365_TOOLKIT_REMEDIATION_COMMAND": standin("remediate")},
        cwd=str(root),
    )  # fmt: skip
    with stderr.open("w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


# -- 1. strict arguments -----------------------------------------------------------------


async def test_string_flags_never_apply_a_remediation(root):
    async with Client(build_server(root)) as client:
        result = await client.call_tool(
            "remediate_security_issues", {"preview_only": "false", "force_apply": "true"}
        )
    assert result.is_error
    text = text_of(result)
    assert "preview_only: expected a JSON boolean (true or false), got the string 'false'" in text
    assert "force_apply: expected a JSON boolean (true or false), got the string 'true'" in text
    assert script_calls(root) == []  # the script never ran, not even as a preview
    [stored] = sessions_of(root)
    assert stored["status"] == "error" and stored["session_id"] in text


def wrong_values(schema: dict[str, Any]) -> list[Any]:
    """Values of the wrong JSON type for a property: what a lax validator would coerce."""
    types = {schema.get("type")} | {option.get("type") for option in schema.get("anyOf", [])}
    wrong: list[Any] = []
    if "boolean" in types:
        wrong += ["true", "false", 1, 0, "1"]
    if "integer" in types:
        wrong += ["5", 5.0, True, "1e3"]
    if "number" in types:
        wrong += ["7", True, "null", "Infinity"]
    if "string" in types:
        wrong += [5, True, ["a"], {"a": 1}]
    if "array" in types:
        wrong += ["1.1.1", 5, {"a": 1}, True]
    return wrong


async def test_every_tool_refuses_every_argument_of_the_wrong_type_and_runs_nothing(root):
    calls = 0
    async with Client(build_server(root)) as client:
        tools = (await client.list_tools()).tools
        for tool in tools:
            properties = tool.input_schema["properties"]
            required = {
                name: "s" for name in tool.input_schema.get("required", [])
            }  # a valid value, so only the wrong one is refused
            for name, schema in properties.items():
                values = wrong_values(schema)
                assert values, (tool.name, name, schema)
                for value in values:
                    result = await client.call_tool(tool.name, {**required, name: value})
                    calls += 1
                    assert result.is_error, (tool.name, name, value)
                    assert f"{name}: expected " in text_of(result), text_of(result)
            extra = await client.call_tool(tool.name, {**required, "unexpected": 1})
            calls += 1
            assert extra.is_error, tool.name
            assert "unexpected: not an argument of this tool" in text_of(extra)
    assert script_calls(root) == []
    stored = sessions_of(root)
    assert len(stored) == calls and {s["status"] for s in stored} == {"error"}


async def test_right_types_are_still_accepted_ints_as_numbers_included(root):
    async with Client(build_server(root)) as client:
        listed = await client.call_tool("list_sessions", {"days": 7, "limit": 3, "user": None})
        stats = await client.call_tool("session_statistics", {"days": 1.5})
        preview = await client.call_tool("remediate_security_issues", {"preview_only": True})
    assert not listed.is_error and not stats.is_error and not preview.is_error, text_of(listed)
    assert script_calls(root) == [["-WhatIf"]]


async def test_the_schemas_say_arguments_are_exact_and_outputs_closed(root):
    async with Client(build_server(root)) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert tool.output_schema["additionalProperties"] is False, tool.name


async def test_a_tool_added_later_is_strict_too(root):
    server = build_server(root)

    @server.tool(annotations=READ_ONLY)
    async def halve(number: int, exact: bool = False) -> dict[str, Any]:
        """Halve a number."""
        return {"session_id": current_call().session_id, "half": number / 2}

    async with Client(server) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "halve")
        ok = await client.call_tool("halve", {"number": 4})
        refused = await client.call_tool("halve", {"number": "4", "exact": "no"})
    assert tool.input_schema["additionalProperties"] is False
    assert ok.structured_content["half"] == 2
    assert refused.is_error and "number: expected a JSON integer" in text_of(refused)
    assert "exact: expected a JSON boolean" in text_of(refused)


# -- 2. every call is a session ----------------------------------------------------------


async def test_a_rejected_call_is_an_error_session_whose_error_event_says_why(root):
    async with Client(build_server(root)) as client:
        result = await client.call_tool("remediate_security_issues", {"preview_only": "no"})
    [stored] = sessions_of(root)
    assert stored["session_id"] in text_of(result)
    assert stored["metadata"]["arguments"]["preview_only"] == "no"  # as sent
    [error] = [e for e in stored["events"] if e["type"] == "error"]
    assert "preview_only: expected a JSON boolean" in error["description"]
    assert error["data"]["exception_type"] == "InvalidArguments"
    assert [e["type"] for e in stored["events"]] == ["start", "error", "complete"]


async def test_a_call_of_an_unknown_tool_is_a_session_named_in_the_result(root):
    async with Client(build_server(root)) as client:
        result = await client.call_tool("delete_everything", {"really": True})
    [stored] = sessions_of(root)
    assert result.is_error and "Unknown tool: delete_everything" in text_of(result)
    assert stored["session_id"] in text_of(result)
    assert stored["operation_type"] == UNLISTED_TOOL and stored["status"] == "error"
    assert stored["metadata"]["tool"] == "delete_everything"


@pytest.mark.parametrize(
    "arguments",
    [{"user": "\ud800"}, {"user\udfff": "a"}, {"days": float("nan")}],
    ids=["lone-surrogate-value", "lone-surrogate-name", "nan"],
)
async def test_arguments_the_trail_cannot_hold_as_sent_still_make_a_session(root, arguments):
    async with Client(build_server(root)) as client:
        result = await client.call_tool("list_sessions", arguments)
    [stored] = sessions_of(root)
    assert result.is_error and stored["session_id"] in text_of(result)
    assert stored["status"] == "error"


async def test_every_result_names_its_session_error_results_included(root):
    outcomes = []
    async with Client(build_server(root)) as client:
        for tool, arguments in [
            ("get_session", {"session_id": "nope"}),
            ("get_session", {}),
            ("get_compliance_status", {}),
            ("analyze_sharepoint_permissions", {"input_file": "../outside.csv"}),
            ("analyze_sharepoint_permissions", {"input_file": "siteA/export.csv"}),
            ("list_sessions", {"status": "bogus"}),
            ("nope", {}),
        ]:
            outcomes.append(await client.call_tool(tool, arguments))
    stored = {s["session_id"] for s in sessions_of(root)}
    assert len(stored) == len(outcomes)
    for result in outcomes:
        assert [sid for sid in stored if sid in text_of(result)], text_of(result)


# -- 3. internal errors: the traceback in the server's log -------------------------------


async def test_a_crash_logs_its_traceback_to_stderr_and_tells_the_client_only_its_type(
    root, tmp_path
):
    stderr = tmp_path / "stderr.log"
    async with stdio_server(root, stderr, script=STANDINS / "crashing_mcp.py") as client:
        result = await client.call_tool("crash", {})
    log = stderr.read_text(encoding="utf-8")
    [stored] = sessions_of(root)
    assert result.is_error
    assert text_of(result) == (
        "Error executing tool crash: The toolkit hit an internal error (ZeroDivisionError); "
        f"the operation stopped. Details are in session {stored['session_id']}."
    )
    assert "Traceback (most recent call last):" in log
    assert "ZeroDivisionError: division by zero" in log
    assert 'return {"ratio": times / 0}' in log  # the line that failed
    assert stored["session_id"] in log
    assert "╭" not in log and "│" not in log  # plain lines, not rich's boxes


# -- 4. big arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("analyze_sharepoint_permissions", {"input_file": BIG}),
        ("list_sessions", {"limit": BIG}),
        ("get_session", {"session_id": BIG}),
        ("list_sessions", {BIG: 1}),
    ],
    ids=["path", "wrong-type", "not-found", "unknown-name"],
)
async def test_a_megabyte_argument_is_quoted_short(root, tool, arguments):
    async with Client(build_server(root)) as client:
        result = await client.call_tool(tool, arguments)
    text = text_of(result)
    assert result.is_error and len(text) < 1_500, text[:300]
    assert "(1,000,000 chars)" in text
    [stored] = sessions_of(root)
    assert stored["session_id"] in text and stored["status"] == "error"


async def test_megabyte_arguments_over_stdio_give_short_errors_and_few_log_lines(root, tmp_path):
    stderr = tmp_path / "stderr.log"
    big_lines = "\n".join(["y" * 40] * 25_000)  # a megabyte that is also 25,000 lines
    async with stdio_server(root, stderr) as client:
        results = [
            await client.call_tool("analyze_sharepoint_permissions", {"input_file": BIG}),
            await client.call_tool("analyze_sharepoint_permissions", {"input_file": big_lines}),
            await client.call_tool("list_sessions", {"limit": big_lines}),
            await client.call_tool("get_session", {"session_id": big_lines}),
        ]
    for result in results:
        assert result.is_error and len(text_of(result)) < 1_500
        assert text_of(result).count("\n") == 0
    lines = stderr.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 2 * len(results), lines[:10]
    assert all(len(line) < 2_500 for line in lines)
    assert len(sessions_of(root)) == len(results)


# -- 5. reports named after their session ------------------------------------------------


async def test_two_exports_with_one_name_get_a_workbook_each_named_after_its_session(root):
    results: dict[str, Any] = {}
    async with Client(build_server(root)) as client, anyio.create_task_group() as group:

        async def analyse(site: str) -> None:
            results[site] = await client.call_tool(
                "analyze_sharepoint_permissions", {"input_file": f"{site}/export.csv"}
            )

        for site in ("siteA", "siteB"):
            group.start_soon(analyse, site)
    reports = root / "output" / "reports" / "sharepoint"
    names = set()
    for site, result in results.items():
        assert not result.is_error, (site, text_of(result))
        data = result.structured_content
        workbook = Path(data["workbook"])
        assert workbook == reports / f"export_{data['session_id']}.xlsx"
        assert workbook.is_file() and data["analysis"]["source"].endswith(f"{site}/export.csv")
        names.add(workbook.name)
    assert sorted(p.name for p in reports.iterdir()) == sorted(names)  # no temporary files
    for stored in sessions_of(root):
        [step] = [e for e in stored["events"] if "workbook" in (e["data"] or {})]
        assert step["data"]["workbook"].endswith(f"export_{stored['session_id']}.xlsx")


def test_the_binary_atomic_writer_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "report.xlsx"
    link = tmp_path / "link.xlsx"
    target.write_bytes(b"old")
    link.symlink_to(target)
    with pytest.raises(RuntimeError), atomic_binary_file(link, "workbook") as file:
        file.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "link.xlsx", "report.xlsx"
    ]  # fmt: skip
    with atomic_binary_file(link, "workbook") as file:
        file.write(b"\x00new")
    assert link.is_symlink() and target.read_bytes() == b"\x00new"
    missing = tmp_path / "missing" / "x.xlsx"
    with (
        pytest.raises(StoreError, match="Cannot write the workbook"),
        atomic_binary_file(missing, "workbook") as file,
    ):
        file.write(b"x")


# -- 6. m365-toolkit mcp refuses a missing root or a broken store -------------------------


def run_mcp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "m365_toolkit", "mcp", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_mcp_on_a_corrupt_store_prints_one_line_and_exits_1(root):
    store = root / "output" / "sessions" / "sessions.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"\x00garbage, not a database" * 100)
    done = run_mcp("--root", str(root), cwd=root)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
    assert "not a SQLite database" in done.stderr and "Traceback" not in done.stderr
    assert store.read_bytes() == b"\x00garbage, not a database" * 100


@pytest.mark.parametrize(
    "store",
    ["postgresql://nobody:pw@127.0.0.1:1/none", "siteA/export.csv/x.db", "siteB/export.csv/x.json"],
    ids=["postgres-refused", "sqlite-under-a-file", "json-under-a-file"],
)
def test_mcp_on_an_unreachable_store_prints_one_line_and_exits_1(root, store):
    done = run_mcp("--root", str(root), "--store", store, cwd=root)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert "pw" not in done.stderr.replace("postgresql", "")


def test_mcp_refuses_a_root_that_does_not_exist_and_creates_nothing(tmp_path):
    missing = tmp_path / "typo"
    done = run_mcp("--root", str(missing), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: The toolkit folder {str(missing)!r} does not exist; name an existing "
        "folder with --root or M365_TOOLKIT_ROOT.\n"
    )
    assert not missing.exists()


async def test_mcp_on_a_good_store_still_answers_over_stdio(root, tmp_path):
    async with stdio_server(root, tmp_path / "stderr.log") as client:
        result = await client.call_tool(
            "remediate_security_issues", {"preview_only": "false", "force_apply": "true"}
        )
        preview = await client.call_tool("remediate_security_issues", {})
    assert result.is_error and "preview_only: expected a JSON boolean" in text_of(result)
    assert not preview.is_error
    assert script_calls(root) == [["-WhatIf"]]
