"""The dashboard's data model on a seeded SQLite store: runs, drift, operations, costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from m365_toolkit.costs.budgets import make_budgets
from m365_toolkit.reports import DRIFT_CLASSES, build, classify, percentile

from .seeding import (
    CONTROLS,
    COSTS,
    DRIFT,
    DURATIONS,
    EXCEPTION,
    FAILED,
    PASS_RATES,
    expected_day_status,
)


def test_the_trend_has_every_run_oldest_first_with_its_pass_rate(seeded, root):
    trend = build(seeded.store, root, clock=seeded.clock).compliance.trend
    assert [run.pass_rate_percent for run in trend] == PASS_RATES
    assert [run.source for run in trend] == ["file", "session", "session", "session+file"]
    assert trend[0].run_id == "m365_cis_audit_20260301_090000.json"


def test_drift_classes_are_right_for_the_seeded_sequence_of_runs(seeded, root):
    compliance = build(seeded.store, root, clock=seeded.clock).compliance
    assert {item.control_id: item.drift for item in compliance.drift} == DRIFT
    assert compliance.drift_counts == {k: list(DRIFT.values()).count(k) for k in DRIFT_CLASSES}
    changed = {item.control_id for item in compliance.drift if item.actual_changed}
    assert "8.1.1" in changed  # same status, another actual value: settings drift


@pytest.mark.parametrize(
    ("before", "after", "drift"),
    [
        ("Pass", "Fail", "regressed"), ("Skipped", "Fail", "new_failure"),
        ("Accepted", "Fail", "new_failure"), ("Fail", "Fail", "still_failing"),
        ("Fail", "Pass", "fixed"), ("Error", "Fail", "error_ok"), ("Pass", "Error", "error_ok"),
        (None, "Fail", "new_control"), ("Pass", None, "removed_control"),
        ("Pass", "Manual", "changed"), ("Error", "Error", "unchanged"),
    ],
)  # fmt: skip
def test_every_status_change_has_exactly_one_drift_class(before, after, drift):
    assert classify(before, after) == drift


def test_the_latest_runs_controls_carry_the_results_files_details(seeded, root):
    compliance = build(seeded.store, root, clock=seeded.clock).compliance
    latest = {c.control_id: c for c in compliance.controls}
    assert set(latest) == {c for c, v in CONTROLS.items() if v[3]}
    assert latest["5.1.1"].section == "5 Microsoft Entra admin center"
    assert latest["8.1.1"].profile == "E5 L2" and latest["8.1.1"].engine == "graph"
    assert latest["1.2.2"].evidence == "ev 1.2.2"
    [accepted] = compliance.exceptions
    assert (accepted.control_id, accepted.reason, accepted.owner, accepted.expires) == (
        "7.2.1", EXCEPTION["reason"], EXCEPTION["owner"], EXCEPTION["expires"])  # fmt: skip


def test_latest_only_has_no_trend_and_no_drift(seeded, root):
    compliance = build(seeded.store, root, historical=False, clock=seeded.clock).compliance
    assert len(compliance.trend) == 1 and compliance.previous is None
    assert compliance.drift == ()


def test_operations_per_day_type_and_user_with_percentiles_failures_and_stale(seeded, root):
    ops = build(seeded.store, root, clock=seeded.clock).operations
    assert ops.by_day == expected_day_status()
    assert ops.total == sum(sum(day.values()) for day in ops.by_day.values())
    assert ops.by_type["sharepoint_analysis"] == {"success": len(DURATIONS)}
    assert ops.by_user["carol"] == {"error": FAILED}
    assert list(ops.by_type)[0] == "sharepoint_analysis"  # busiest first
    durations = {p.operation_type: p for p in ops.durations}
    spo = durations["sharepoint_analysis"]
    assert (spo.count, spo.p50, spo.p95) == (20, 10.0, 19.0)
    assert durations["security_audit"].p50 == 30.0
    assert "remediation" in durations and "active" not in durations
    assert ops.failed_total == FAILED
    errors = sorted(e for f in ops.failed for e in f.errors)
    assert errors == ["Access denied 0", "Access denied 1", *["PermissionError: denied"] * 2]
    assert [s.session_id for s in ops.stale] == ["stale-0001"]


def test_the_period_leaves_older_sessions_out(seeded, root):
    ops = build(seeded.store, root, days=1.5, clock=seeded.clock).operations
    assert set(ops.by_day) == {"2026-03-04"}


def test_nearest_rank_percentiles():
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 95) == 7.0
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (
        50.0, 95.0, 100.0)  # fmt: skip


def test_costs_by_day_model_operation_and_user_and_budget_use(seeded, root):
    budgets = make_budgets({"monthly": 10, "user_monthly": 2, "session": 1})
    costs = build(seeded.store, root, budgets=budgets, clock=seeded.clock).costs
    total = sum((c[4] for c in COSTS), Decimal(0))
    assert costs.total == total and costs.requests == len(COSTS)
    assert [line.key for line in costs.by_day] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert costs.by_day[0].cost == Decimal("0.75")
    assert {line.key: line.cost for line in costs.by_model} == {
        "gpt-5": Decimal("1.50"), "gpt-5-mini": Decimal("0.375")}  # fmt: skip
    assert costs.by_user[0].key == "alice" and costs.by_user[0].cost == Decimal("1.625")
    assert {line.key for line in costs.by_operation} == {c[2] for c in COSTS}
    use = {b.name: b for b in costs.budgets}
    assert use["monthly"].spent == total and use["monthly"].percent == 18.8
    assert use["user_monthly"].spent == Decimal("1.625")  # the top user
    assert use["session"].spent is None


def test_an_empty_store_and_folder_make_an_empty_dashboard(tmp_path):
    from m365_toolkit import open_store

    with open_store("memory:") as store:
        board = build(store, tmp_path, budgets=())
    assert board.compliance.latest is None and board.compliance.trend == ()
    assert board.operations.total == 0 and board.costs.total == 0


def test_a_session_budget_shows_the_periods_most_spending_sessions(tmp_path):
    from datetime import UTC, datetime, timedelta

    from m365_toolkit import SessionManager
    from m365_toolkit.costs.model import Cost, CostRecord, TokenUsage
    from m365_toolkit.reports import render

    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    spend = {"cheap": ["0.10"], "dear": ["0.70", "0.50"], "exact": ["1"], "old": ["5"]}
    with SessionManager(tmp_path / "s.db", clock=lambda: now) as manager:
        ids = {}
        for name, amounts in spend.items():
            with manager.session("security_audit") as session:
                ids[name] = session.session_id
            days_ago = 40 if name == "old" else 1
            for amount in amounts:
                manager.store.costs.add(CostRecord(
                    now - timedelta(days=days_ago), session.session_id, "alice",
                    "security_audit", "gpt-5", "chat", TokenUsage(10, 5),
                    Cost(Decimal(amount), Decimal(0), Decimal(0), "test"),
                ))  # fmt: skip
        manager.store.costs.add(CostRecord(now, None, "bob", None, "gpt-5", "chat",
                                           TokenUsage(1, 1), Cost(Decimal(9), Decimal(0),
                                           Decimal(0), "test")))  # fmt: skip
        board = build(manager.store, tmp_path, 30, budgets=make_budgets({"session": 1}),
                      clock=lambda: now)  # fmt: skip
        plain = build(manager.store, tmp_path, 30, budgets=(), clock=lambda: now)
    costs = board.costs
    assert [(line.key, line.cost, line.requests) for line in costs.by_session] == [
        (ids["dear"], Decimal("1.2"), 2), (ids["exact"], Decimal(1), 1),
        (ids["cheap"], Decimal("0.1"), 1),
    ]  # fmt: skip
    assert costs.session_limit == 1 and costs.sessions_over == 2
    [use] = costs.budgets
    assert (use.spent, use.percent, use.top) == (Decimal("1.2"), 120.0, ids["dear"])
    assert plain.costs.by_session == () and plain.costs.session_limit is None
    page = render(board, "html")
    assert 'id="costs-session"' in page and "120%" in page and ids["old"] not in page
    assert "2 session(s) of the period reached the session budget of $1.0000" in page
    assert 'id="costs-session"' not in render(plain, "html")
