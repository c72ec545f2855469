"""The CLI and the MCP tool over the fake Graph: sessions, events, files, no secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.m365.audit.graph import CONTROLS
from m365_toolkit.mcp_server import build_server

from .fakegraph import CLIENT_SECRET
from .tenants import BREAK_GLASS_UPN, compliant, noncompliant


def toml(config: dict[str, Any]) -> str:
    """Enough TOML for these configs (JSON strings are TOML basic strings)."""
    lines = []
    for table, values in config.items():
        if isinstance(values, list):
            for item in values:
                lines.append(f"[[{table}]]")
                lines += [
                    f"{k} = {v if k == 'expires' else json.dumps(v)}" for k, v in item.items()
                ]
        else:
            lines.append(f"[{table}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def root(tmp_path: Path, graph_table) -> Path:
    folder = tmp_path / "toolkit"
    (folder / "config").mkdir(parents=True)
    config = {
        "graph": graph_table,
        "audit": {"break_glass": [BREAK_GLASS_UPN], "approved_public_groups": ["All Company"]},
        "exceptions": [
            {
                "control": "5.1.2.2",
                "reason": "dev apps",
                "owner": "ciso@contoso.com",
                "expires": "2099-12-31",
            }
        ],
    }
    (folder / "config" / "audit.toml").write_text(toml(config), encoding="utf-8")
    return folder


def cli_run(root: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--root", str(root)], catch_exceptions=False)


def sessions_of(root: Path) -> list[dict]:
    with SessionManager(root / "output" / "sessions" / "sessions.db") as manager:
        return manager.get_session_history(days=None)


def test_audit_run_with_the_graph_engine_is_a_session_with_one_event_per_control(root, graph):
    graph.tenant = noncompliant()
    result = cli_run(root, "audit", "run", "--engine", "graph", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [stored] = sessions_of(root)
    assert stored["session_id"] == data["session_id"] and stored["status"] == "success"
    assert stored["operation_type"] == "security_audit"
    per_control = [e for e in stored["events"] if "control_id" in e["data"]]
    assert len(per_control) == len(data["results"]) == len(CONTROLS)
    assert {e["type"] for e in per_control} == {"progress"}
    ids = [e["data"]["control_id"] for e in per_control]
    assert len(ids) == len(set(ids))
    accepted = next(e for e in per_control if e["data"]["control_id"] == "5.1.2.2")
    assert accepted["data"]["status"] == "Accepted"
    last = stored["events"][-2]
    assert (
        last["data"]["counts"]["Fail"] == len(CONTROLS) - 1
        and last["data"]["pass_rate_percent"] == 0.0
    )
    assert last["data"]["snapshot_file"] == data["snapshot_file"]
    assert CLIENT_SECRET not in json.dumps(stored) and CLIENT_SECRET not in result.output
    assert stored["metadata"]["arguments"]["graph"]["sign_in_with"] == "secret"


def test_auto_picks_graph_when_configured_and_status_shows_its_results(root, graph):
    graph.tenant = compliant()
    assert cli_run(root, "audit", "run").exit_code == 0
    status = json.loads(cli_run(root, "audit", "status", "--json").stdout)
    assert status["summary"]["by_status"]["Pass"] == len(CONTROLS) - 1
    assert status["summary"]["by_status"]["Skipped"] == 1


def test_audit_run_shows_a_table_and_rejects_an_unknown_control(root, graph):
    graph.tenant = compliant()
    shown = cli_run(root, "audit", "run", "--controls", "5.2.2.2,7.2.3")
    assert shown.exit_code == 0, shown.output
    assert "5.2.2.2" in shown.stdout and "Pass rate: 100%" in shown.stdout
    bad = cli_run(root, "audit", "run", "--controls", "9.9.9")
    assert bad.exit_code == 1 and "no control '9.9.9'" in bad.stderr


def test_audit_evaluate_re_evaluates_a_snapshot_offline(root, graph):
    graph.tenant = noncompliant()
    live = json.loads(cli_run(root, "audit", "run", "--json").stdout)
    asked = len(graph.requests)
    offline = cli_run(root, "audit", "evaluate", live["snapshot_file"], "--json")
    assert offline.exit_code == 0, offline.output
    data = json.loads(offline.stdout)
    assert [r["Status"] for r in data["results"]] == [r["Status"] for r in live["results"]]
    assert len(graph.requests) == asked  # no network
    assert sessions_of(root)[0]["operation_type"] == "security_audit_evaluation"


def test_a_bad_config_is_one_clean_error(root, graph):
    (root / "config" / "audit.toml").write_text("[graph]\ncredential = 'magic'\n", "utf-8")
    result = cli_run(root, "audit", "run", "--engine", "graph")
    assert result.exit_code == 1 and "credential must be one of" in result.stderr


@pytest.mark.anyio
async def test_the_mcp_tool_uses_graph_when_configured_with_progress(root, graph):
    graph.tenant = compliant()
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with Client(build_server(root)) as client:
        result = await client.call_tool("run_security_audit", {}, progress_callback=on_progress)
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["results_file"].endswith("_graph.json")
    assert data["summary"]["by_status"]["Pass"] == len(CONTROLS) - 1
    assert [done for done, _, _ in progress] == list(range(1, len(CONTROLS) + 1))
    [stored] = sessions_of(root)
    assert stored["status"] == "success"
    assert sum("control_id" in e["data"] for e in stored["events"]) == len(CONTROLS)
    assert CLIENT_SECRET not in json.dumps(stored)
