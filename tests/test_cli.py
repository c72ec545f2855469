import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager, Status
from m365_toolkit.cli import cli

from .conftest import store_kind


def run(*args: str, store: Path | None = None) -> "click.testing.Result":
    options = ["--store", str(store)] if store is not None else []
    return CliRunner().invoke(cli, [*args, *options], catch_exceptions=False)


@pytest.fixture
def seeded(store_path):
    with SessionManager(store_path) as manager:
        audit = manager.create_session("security_audit", user="alice", metadata={"tenant": "c"})
        audit.add_event("progress", "Running CIS control 1.1.1", {"control": "1.1.1"})
        manager.complete_session(audit.session_id, "success")
        failing = manager.create_session("remediation", user="bob")
        manager.complete_session(failing.session_id, "error")
        manager.create_session("sharepoint_analysis", user="alice")
    return store_path, audit.session_id


def test_every_command_has_help_text():
    def walk(group: click.Group, prefix: str = ""):
        for name, command in group.commands.items():
            yield f"{prefix}{name}", command
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix}{name} ")

    for name, command in walk(cli):
        assert command.help, f"{name} has no help text"
        assert run(*name.split(), "--help").exit_code == 0


def test_sessions_list_shows_a_table_and_filters(seeded):
    store, audit_id = seeded
    result = run("sessions", "list", store=store)
    assert result.exit_code == 0, result.output
    assert audit_id in result.output and "remediation" in result.output
    only = run("sessions", "list", "--user", "bob", "--json", store=store)
    assert [s["operation_type"] for s in json.loads(only.output)] == ["remediation"]
    active = run("sessions", "list", "--status", "active", "--json", store=store)
    assert [s["status"] for s in json.loads(active.output)] == ["active"]
    limited = run("sessions", "list", "--type", "security_audit", "--limit", "1", "--json",
                  store=store)  # fmt: skip
    assert [s["session_id"] for s in json.loads(limited.output)] == [audit_id]


def test_sessions_show_prints_the_timeline(seeded):
    store, audit_id = seeded
    result = run("sessions", "show", audit_id, store=store)
    assert result.exit_code == 0, result.output
    for text in ("security_audit", "alice", "success", "Running CIS control 1.1.1", "complete"):
        assert text in result.output
    data = json.loads(run("sessions", "show", audit_id, "--json", store=store).output)
    assert [e["type"] for e in data["events"]] == ["start", "progress", "complete"]


def test_unknown_session_is_a_clean_error(seeded):
    store, _ = seeded
    result = run("sessions", "show", "nope", store=store)
    assert result.exit_code == 1
    assert "No session with id 'nope'" in result.output


def test_sessions_stats_prints_the_guides_layout_or_json(seeded):
    store, _ = seeded
    text = run("sessions", "stats", "--days", "7", store=store).output
    assert "Session Statistics - Last 7 Days" in text and "   Total Sessions: 3" in text
    stats = json.loads(run("sessions", "stats", "--json", store=store).output)
    assert stats["by_status"] == {"active": 1, "error": 1, "success": 1}
    assert stats["by_user"] == {"alice": 2, "bob": 1}


def test_a_corrupt_store_is_a_clean_error_and_stays_untouched(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[{", encoding="utf-8")
    result = run("sessions", "list", store=path)
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output and str(path) in result.output
    assert path.read_text(encoding="utf-8") == "[{"


def test_sessions_reap_completes_sessions_of_dead_processes(store_path):
    with SessionManager(store_path) as manager:
        orphan = manager.create_session("security_audit")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    _set_pid(store_path, orphan.session_id, int(dead.stdout))
    dry = json.loads(run("sessions", "reap", "--dry-run", "--json", store=store_path).output)
    assert dry == {"dry_run": True, "sessions": [orphan.session_id]}
    result = run("sessions", "reap", store=store_path)
    assert result.exit_code == 0 and "Reaped 1 stale session(s)." in result.output
    with SessionManager(store_path) as manager:
        assert manager.get_session(orphan.session_id).status is Status.ERROR
    assert "Reaped 0" in run("sessions", "reap", store=store_path).output
    bad = run("sessions", "reap", "--older-than", "soon", store=store_path)
    assert bad.exit_code == 2 and "30m, 12h, 365d" in bad.output


def _set_pid(store_path: Path | str, session_id: str, pid: int) -> None:
    """Pretend the session was started by another, now finished, process."""
    kind = store_kind(store_path)
    if kind == "postgres":
        import psycopg

        with psycopg.connect(str(store_path)) as pg:
            pg.execute("UPDATE sessions SET pid = %s WHERE session_id = %s", (pid, session_id))
    elif kind == "json":
        store_path = Path(store_path)
        data = json.loads(store_path.read_text(encoding="utf-8"))
        for item in data:
            if item["session_id"] == session_id:
                item["pid"] = pid
        store_path.write_text(json.dumps(data), encoding="utf-8")
    else:
        import sqlite3

        with sqlite3.connect(store_path) as conn:
            conn.execute("UPDATE sessions SET pid = ? WHERE session_id = ?", (pid, session_id))
        conn.close()


def test_sessions_import_reads_a_legacy_log(tmp_path, store_path):
    legacy = tmp_path / "session_log.json"
    legacy.write_text(json.dumps([{
        "session_id": "legacy-1", "user": "admin@contoso.com", "operation_type": "remediation",
        "metadata": {}, "start_time": "2025-11-14T10:30:00", "end_time": None,
        "status": "active", "duration_seconds": None, "events": [],
    }]), encoding="utf-8")  # fmt: skip
    first = run("sessions", "import", str(legacy), store=store_path)
    assert "Imported 1 session(s)" in first.output
    again = json.loads(run("sessions", "import", str(legacy), "--json", store=store_path).output)
    assert again == {"records": "sessions", "imported": 0, "skipped": 1}


def test_demo_records_sessions_and_prints_history_and_statistics(tmp_path):
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "Recorded 6 sessions" in result.output
    assert "Session Statistics - Last 30 Days" in result.output
    assert "MCP get_compliance_status on the sample audit: 76.47% compliant" in result.output
    assert "High: 2 anyone (anonymous) sharing link(s)" in result.output
    printed = result.output.rsplit("Dashboard of what the demo recorded: ", 1)[1].strip()
    page = Path(printed)
    assert page.parent == tmp_path / "output" / "reports" / "security" and page.is_file()
    assert "Sessions recorded by the demo" not in page.read_text(encoding="utf-8")
    with SessionManager(tmp_path / "output" / "sessions" / "sessions.db") as manager:
        history = manager.get_session_history()
        assert sorted(s["operation_type"] for s in history if s["status"] == "success") == [
            "compliance_status", "dashboard_generation", "dashboard_generation",
            "security_audit", "sharepoint_analysis", "sharepoint_analysis",
        ]  # fmt: skip
        newest = history[0]
        assert newest["operation_type"] == "dashboard_generation"
        assert newest["events"][-2]["data"]["file"] == printed
        # The page holds what the demo recorded: six sessions and its own (active meanwhile).
        board = json.loads(
            page.read_text(encoding="utf-8")
            .split('<script type="application/json" id="dashboard-data">', 1)[1]
            .split("</script>")[0]
        )
        assert board["operations"]["total"] == 7 and board["operations"]["failed_total"] == 1
        assert [s["operation_type"] for s in history if s["status"] == "error"] == ["remediation"]
        assert "never-stored" not in json.dumps(history)


def test_the_console_script_and_python_dash_m_run_from_a_fresh_directory(tmp_path):
    script = shutil.which("m365-toolkit", path=str(Path(sys.executable).parent))
    assert script, "the m365-toolkit console script is not installed beside this Python"
    env = {**os.environ, "M365_TOOLKIT_STORE": str(tmp_path / "trail.db")}
    demo = subprocess.run([script, "demo", "--json"], capture_output=True, text=True,
                          env=env, check=True, cwd=tmp_path)  # fmt: skip
    printed = json.loads(demo.stdout)
    assert len(printed["sessions"]) == 6 and Path(printed["dashboard"]).is_file()
    stats = subprocess.run(
        [sys.executable, "-m", "m365_toolkit", "sessions", "stats", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(stats.stdout)["total_sessions"] == 7  # and the demo's dashboard


# -- zero windows and limits: a usage error naming the option and what to give instead --------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["sessions", "list", "--days", "0"], "--days"),
        (["sessions", "stats", "--days", "0"], "--days"),
        (["costs", "report", "--days", "0.0"], "--days"),
        (["sessions", "list", "--limit", "0"], "--limit"),
    ],
)
def test_zero_days_or_limit_is_a_usage_error_naming_the_option(tmp_path, args, says):
    store = tmp_path / "s.db"
    with SessionManager(store) as manager:
        manager.complete_session(manager.create_session("audit").session_id)
    result = CliRunner().invoke(cli, [*args, "--store", str(store)])
    assert result.exit_code == 2, result.output
    assert says in result.output
    if says == "--days":
        assert "more than 0" in result.output and "'all'" in result.output
    else:
        assert "1 or more" in result.output
    with SessionManager(store) as manager:
        assert len(manager.get_session_history(days=None)) == 1  # nothing touched


@pytest.mark.parametrize(
    ("command", "age", "unit"),
    [("prune", "0d", "days"), ("prune", "0.0h", "hours"), ("reap", "0s", "seconds"),
     ("reap", "0w", "weeks")],
)  # fmt: skip
def test_a_zero_age_is_refused_in_the_units_given(tmp_path, command, age, unit):
    store = tmp_path / "s.db"
    result = CliRunner().invoke(
        cli, ["sessions", command, "--older-than", age, "--store", str(store)]
    )
    assert result.exit_code == 2, result.output
    assert f"--older-than must be more than 0 {unit}; got {age}" in " ".join(result.output.split())
    assert "0:00:00" not in result.output


@pytest.mark.parametrize("args", [["sessions", "list"], ["sessions", "prune"], ["costs", "report"]])
def test_help_states_the_rule_for_zero(args):
    text = " ".join(CliRunner().invoke(cli, [*args, "--help"]).output.split())
    assert "more than 0" in text
