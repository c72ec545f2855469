"""The demo's audit: the shipped snapshot of a fictional tenant, judged by the real
evaluators, recorded as a security_audit session with one progress event per control."""

from __future__ import annotations

from collections import Counter

from click.testing import CliRunner

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.cli.demo_audit import CONFIG, SNAPSHOT, _sample
from m365_toolkit.m365.audit.graph import (
    CONTROLS,
    evaluate_snapshot,
    load_config,
    load_snapshot,
    plan,
)
from m365_toolkit.m365.audit.graph.endpoints import derived_paths


def test_the_sample_snapshot_covers_every_control_and_gives_a_mixed_picture():
    snapshot = load_snapshot(_sample(SNAPSHOT))
    config = load_config(_sample(CONFIG))
    asked = plan(CONTROLS, config)
    asked += derived_paths({p: snapshot.outcomes[p] for p in asked if p in snapshot.outcomes})
    assert set(asked) <= set(snapshot.outcomes)  # a new control must update the sample
    assert snapshot.controls == tuple(c.id for c in CONTROLS)
    counts = Counter(e.status for e in evaluate_snapshot(snapshot, config).evaluations)
    assert {"Pass", "Fail", "Skipped", "Accepted"} <= set(counts)
    assert counts["Pass"] > counts["Fail"] > 0


def test_the_demo_shows_the_audit_and_records_one_event_per_control(tmp_path):
    store = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["demo", "--store", str(store)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "CIS controls of the sample tenant" in result.output
    assert "Evidence behind the controls that did not pass" in result.output
    assert "Accepted" in result.output and "Skipped" in result.output
    with SessionManager(store) as manager:
        [audit] = [
            s for s in manager.get_session_history() if s["operation_type"] == "security_audit"
        ]
    assert audit["status"] == "success" and audit["metadata"]["engine"] == "graph"
    per_control = [e for e in audit["events"] if "control_id" in e["data"]]
    assert [e["data"]["control_id"] for e in per_control] == [c.id for c in CONTROLS]
    assert {e["type"] for e in per_control} == {"progress"}
    assert set(per_control[0]["data"]) >= {"control_id", "status", "severity", "expected", "actual"}
    last = audit["events"][-2]["data"]
    assert last["counts"]["Accepted"] == 1 and last["pass_rate_percent"] is not None
    assert f"Sample audit: {last['pass_rate_percent']:g}% pass rate" in result.output
