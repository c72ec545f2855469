import csv
import json
import logging
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseUsage

from m365_toolkit import (
    BudgetExceededError,
    ConfigError,
    CorruptStoreError,
    SessionManager,
    UnknownModel,
    ValidationError,
)
from m365_toolkit.cost_tracker import (
    GPT5CostTracker,
    get_tracker,
    track_gpt5_request,
)
from m365_toolkit.costs.budgets import BudgetWarning
from m365_toolkit.costs.pricing import PriceBook
from m365_toolkit.costs.tracker import _reset_tracker

from .conftest import store_kind

M = Decimal(1_000_000)


@pytest.fixture(autouse=True)
def _no_shared_tracker():
    _reset_tracker()
    yield
    _reset_tracker()


def tracker_for(manager, **options):
    session = manager.create_session("gpt5_testing", user="analyst@contoso.com")
    return GPT5CostTracker(manager=manager, session_id=session.session_id, **options), session


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        ("gpt-5", ("1.25", "0.125", "10")),
        ("gpt-5-mini", ("0.25", "0.025", "2")),
        ("gpt-5-nano", ("0.05", "0.005", "0.40")),
    ],
)
def test_published_prices_of_the_gpt5_family_with_cached_tokens(manager, model, rates):
    input_rate, cached_rate, output_rate = map(Decimal, rates)
    tracker, _ = tracker_for(manager)
    result = tracker.track_request(model, prompt_tokens=10_000, completion_tokens=500,
                                   cached_tokens=4_000)  # fmt: skip
    # 6,000 uncached + 4,000 cached input tokens; never counted twice
    expected_input = 6_000 * input_rate / M
    expected_cached = 4_000 * cached_rate / M
    expected_output = 500 * output_rate / M
    entry = result["request"]
    assert entry["tokens"] == {"input": 10_000, "cached_input": 4_000, "output": 500,
                               "reasoning": 0, "total": 10_500}  # fmt: skip
    assert {part: Decimal(value) for part, value in entry["cost"].items()} == {
        "input": expected_input,
        "cached_input": expected_cached,
        "output": expected_output,
        "total": expected_input + expected_cached + expected_output,
    }  # exact decimal text
    assert entry["price_source"].startswith("genai-prices ")
    assert f"openai/{model}" in entry["price_source"]


def test_the_guides_example_costs_what_openai_charges(manager):
    tracker, session = tracker_for(manager, budget_limit=10.00)
    result = tracker.track_request(model="gpt-5", prompt_tokens=1500, completion_tokens=2000,
                                   request_type="analysis")  # fmt: skip
    assert result["request"]["session_id"] == session.session_id
    assert result["request"]["cost"]["total"] == "0.021875"  # 1500 * 1.25 + 2000 * 10 per 1M
    assert result["request"]["operation_type"] == "gpt5_testing"
    assert result["request"]["user"] == "analyst@contoso.com"
    assert result["session_total"]["requests"] == 1
    assert result["session_total"]["cost"] == "0.021875"


def test_an_unknown_model_is_an_error_that_says_how_to_price_it(manager):
    tracker, _ = tracker_for(manager)
    with pytest.raises(UnknownModel, match="'contoso-llm-7'.*prices=") as caught:
        tracker.track_request("contoso-llm-7", 100, 100)
    assert caught.value.model == "contoso-llm-7"
    assert tracker.get_cost_by_model() == {}


def test_overrides_from_code_and_config_file_take_precedence(manager, tmp_path):
    config = tmp_path / "costs.toml"
    config.write_text(
        '[prices."azure-gpt5-prod"]\ninput = 1.10\ncached_input = 0.11\noutput = 9.0\n'
        '[prices."gpt-5"]\ninput = 1.00\noutput = 8.00\n',
        encoding="utf-8",
    )
    tracker, _ = tracker_for(
        manager, config_file=config, prices={"gpt-5": {"input": 2, "output": 16}}
    )
    azure = tracker.track_request("azure-gpt5-prod", 1_000_000, 1_000_000, 500_000)
    assert azure["request"]["cost"] == {"input": "0.55", "cached_input": "0.055", "output": "9",
                                        "total": "9.605"}  # fmt: skip
    assert azure["request"]["price_source"] == f"config {config}"
    gpt5 = tracker.track_request("GPT-5", 1_000_000, 0)
    assert gpt5["request"]["cost"]["total"] == "2"  # code beats the file and genai-prices
    assert gpt5["request"]["price_source"] == "override"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[prices", "not valid TOML"),
        ("[tenants]\nx = 1", "unknown table"),
        ('[prices."m"]\ninput = -1\noutput = 1', "input in USD per 1M tokens"),
        ('[prices."m"]\ninput = 1\noutput = 1\nwrite = 2', "unknown field"),
        ("[budgets]\nweekly = 3", "Unknown budget 'weekly'"),
        ("[budgets]\ndaily = 0", "positive amount"),
    ],
)
def test_a_bad_cost_config_is_explained(manager, tmp_path, content, message):
    config = tmp_path / "costs.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises((ConfigError, ValidationError), match=message):
        GPT5CostTracker(manager=manager, config_file=config)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10), "input tokens"),
        ((100, 10, 101), "cannot exceed prompt_tokens"),
        ((100, 1.5), "output tokens"),
    ],
)
def test_bad_token_counts_are_refused_and_nothing_is_recorded(manager, args, message):
    tracker, _ = tracker_for(manager)
    with pytest.raises(ValidationError, match=message):
        tracker.track_request("gpt-5", *args)
    assert manager.store.costs.report("model") == []


def test_chat_completions_and_responses_api_results_are_read_correctly(manager):
    tracker, _ = tracker_for(manager)
    chat = ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "choices": [],
        "model": "gpt-5-mini-2025-08-07",
        "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                  "prompt_tokens_details": {"cached_tokens": 1024},
                  "completion_tokens_details": {"reasoning_tokens": 128}},
    })  # fmt: skip
    usage = ResponseUsage.model_validate({
        "input_tokens": 2000, "output_tokens": 500, "total_tokens": 2500,
        "input_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 200},
    })  # fmt: skip
    response = Response.model_construct(model="gpt-5", usage=usage)
    for result in (tracker.track_openai_response(chat),
                   tracker.track_openai_response(chat.model_dump())):  # fmt: skip
        assert result["request"]["model"] == "gpt-5-mini-2025-08-07"
        tokens = {"input": 1200, "cached_input": 1024, "output": 300, "reasoning": 128}
        assert result["request"]["tokens"] == {**tokens, "total": 1500}
        expected = (176 * Decimal("0.25") + 1024 * Decimal("0.025") + 300 * 2) / M
        assert Decimal(result["request"]["cost"]["total"]) == expected
    for result in (tracker.track_openai_response(response, request_type="reasoning"),
                   tracker.track_openai_response(response.model_dump(), "reasoning")):  # fmt: skip
        tokens = {"input": 2000, "cached_input": 1500, "output": 500, "reasoning": 200}
        assert result["request"]["tokens"] == {**tokens, "total": 2500}
        expected = (500 * Decimal("1.25") + 1500 * Decimal("0.125") + 500 * 10) / M
        assert Decimal(result["request"]["cost"]["total"]) == expected
    with pytest.raises(ValidationError, match="no model and usage"):
        tracker.track_openai_response({"id": "x"})


def test_session_costs_show_in_get_session_history_and_statistics(manager):
    tracker, session = tracker_for(manager)
    tracker.track_request("gpt-5", 1_000_000, 100_000)
    tracker.track_request("gpt-5-nano", 1_000_000, 0)
    other = manager.create_session("security_audit")
    expected = {"requests": 2, "cost": "2.3", "tokens": {"input": 2_000_000, "cached_input": 0,
                "output": 100_000, "reasoning": 0, "total": 2_100_000}}  # fmt: skip
    assert SessionManager(manager.storage_path).get_session(session.session_id).cost == expected
    assert manager.get_session(other.session_id).cost is None
    history = {s["session_id"]: s for s in manager.get_session_history(with_costs=True)}
    assert history[session.session_id]["cost"] == expected
    assert history[other.session_id]["cost"]["requests"] == 0
    stats = manager.get_statistics(days=30)
    assert stats["total_cost_usd"] == "2.3"
    assert stats["cost_by_operation_type"] == {"gpt5_testing": "2.3"}


def test_reports_group_by_model_type_operation_user_and_day(manager, clock):
    tracker, _ = tracker_for(manager)
    tracker.track_request("gpt-5", 1_000_000, 0, request_type="analysis")
    clock.advance(days=1)
    tracker.track_request("gpt-5-mini", 1_000_000, 0)
    solo = GPT5CostTracker(manager=manager, user="bob")
    solo.track_request("gpt-5-mini", 1_000_000, 0)
    assert tracker.get_cost_by_model() == {"gpt-5": 1.25, "gpt-5-mini": 0.5}
    assert tracker.get_cost_by_type() == {"analysis": 1.25, "chat": 0.5}
    by = {name: {g.key: float(g.totals.cost) for g in tracker.report(name, days=None)}
          for name in ("operation", "user", "day")}  # fmt: skip
    assert by["operation"] == {"gpt5_testing": 1.5, "(no session)": 0.25}
    assert by["user"] == {"analyst@contoso.com": 1.5, "bob": 0.25}
    assert by["day"] == {"2026-03-02": 1.25, "2026-03-03": 0.5}
    with pytest.raises(ValidationError, match="Cannot group costs by 'colour'"):
        tracker.report("colour")


def test_a_crossed_budget_warns_logs_and_marks_the_session(manager, caplog):
    tracker, session = tracker_for(manager, budget_limit=1.00)
    tracker.track_request("gpt-5", 400_000, 0)  # $0.50
    crossed = r"daily budget of \$1.00 is crossed"
    with pytest.warns(BudgetWarning, match=crossed), caplog.at_level(logging.WARNING):
        tracker.track_request("gpt-5", 400_000, 0)  # $1.00 in all
    assert "daily budget" in caplog.text
    budget_events = [e for e in manager.get_session(session.session_id).events
                     if e.type == "budget"]  # fmt: skip
    assert len(budget_events) == 1 and budget_events[0].data["budget"] == "daily"
    tracker.track_request("gpt-5", 1, 0)  # already crossed: no second warning (warnings = errors)


def test_enforced_budgets_stop_the_next_request_and_check_budget_raises(manager):
    tracker, _ = tracker_for(manager, session_limit=0.10, enforce=True)
    tracker.check_budget()
    with pytest.warns(BudgetWarning):
        tracker.track_request("gpt-5", 100_000, 0)  # $0.125: crosses the session budget
    with pytest.raises(BudgetExceededError, match=r"session budget of \$0.10") as caught:
        tracker.check_budget()
    assert caught.value.budget == "session" and caught.value.limit == Decimal("0.10")
    with pytest.raises(BudgetExceededError):
        tracker.track_request("gpt-5", 8, 0)
    assert manager.store.costs.report("model")[0].totals.requests == 2  # still recorded


def test_per_user_and_monthly_budgets_count_only_their_scope(manager):
    alice = GPT5CostTracker(manager=manager, user="alice", user_daily_limit=1, monthly_limit=5)
    bob = GPT5CostTracker(manager=manager, user="bob", user_daily_limit=1, monthly_limit=5)
    alice.track_request("gpt-5", 640_000, 0)  # $0.80
    bob.track_request("gpt-5", 640_000, 0)
    spent = {s.budget.name: s.spent for s in alice.budget_status()}
    assert spent == {"user_daily": Decimal("0.8"), "monthly": Decimal("1.6")}


def test_costs_follow_a_json_session_store_into_a_log_beside_it(tmp_path):
    with SessionManager(tmp_path / "trail" / "sessions.json") as manager:
        tracker, session = tracker_for(manager)
        tracker.track_request("gpt-5", 1500, 2000)
        assert manager.get_session(session.session_id).cost["cost"] == "0.021875"
    log = json.loads((tmp_path / "trail" / "sessions.costs.json").read_text(encoding="utf-8"))
    assert [(e["session_id"], e["cost"]["total"]) for e in log] == [
        (session.session_id, "0.021875")
    ]


def test_a_json_log_file_keeps_the_original_format_and_a_corrupt_one_is_left_alone(
    manager, tmp_path
):
    path = tmp_path / "reports" / "gpt5_cost_log.json"
    tracker = GPT5CostTracker(log_file=path, manager=manager)
    tracker.track_request("gpt-5", 1500, 2000, metadata={"task": "tax", "api_key": "sk-1"})
    entry = json.loads(path.read_text(encoding="utf-8"))[0]
    assert {"timestamp", "model", "request_type", "tokens", "cost", "metadata"} <= entry.keys()
    assert entry["metadata"] == {"task": "tax", "api_key": "[REDACTED]"}
    path.write_text('[{"timestamp": "2025-11-14T10:30:00", "model"', encoding="utf-8")
    with pytest.raises(CorruptStoreError, match="not valid JSON"):
        tracker.track_request("gpt-5", 1, 1)
    with pytest.raises(CorruptStoreError, match=str(path)):
        GPT5CostTracker(log_file=path, manager=manager)
    assert path.read_text(encoding="utf-8") == '[{"timestamp": "2025-11-14T10:30:00", "model"'


def test_csv_export_reads_back_every_record(manager, tmp_path):
    tracker, session = tracker_for(manager)
    tracker.track_request("gpt-5", 1500, 2000, 500, "analysis")
    tracker.track_request("gpt-5-nano", 10, 20)
    target = tmp_path / "out" / "costs.csv"
    assert tracker.export_to_csv(target) == 2
    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["model"], r["request_type"], r["cached_tokens"], r["session_id"]) for r in rows] == [
        ("gpt-5", "analysis", "500", session.session_id),
        ("gpt-5-nano", "chat", "0", session.session_id),
    ]
    # 1,000 uncached + 500 cached input tokens, 2,000 output tokens
    assert Decimal(rows[0]["total_cost"]) == Decimal("0.0213125")


def test_many_tiny_costs_add_up_exactly(manager):
    tracker, session = tracker_for(manager)
    for _ in range(300):
        tracker.track_request("gpt-5-nano", 7, 3, 2)
    one = PriceBook().cost("gpt-5-nano", __import__("m365_toolkit.costs").costs.TokenUsage(7, 3, 2))
    assert manager.store.costs.total(session_id=session.session_id) == one.total * 300


def test_module_helpers_use_the_shared_manager_and_openai_usage_dicts(tmp_path):
    result = track_gpt5_request(
        "gpt-5",
        {"prompt_tokens": 1000, "completion_tokens": 10,
         "prompt_tokens_details": {"cached_tokens": 200}},
    )  # fmt: skip
    assert result["request"]["tokens"]["cached_input"] == 200
    assert get_tracker() is get_tracker(budget_limit=3)
    assert (tmp_path / "output" / "sessions" / "sessions.db").exists()


WORKER = textwrap.dedent(
    """
    import sys
    from m365_toolkit import SessionManager
    from m365_toolkit.cost_tracker import GPT5CostTracker

    manager = SessionManager(sys.argv[1])
    tracker = GPT5CostTracker(manager=manager, session_id=sys.argv[2])
    sys.stdin.readline()
    for _ in range(int(sys.argv[3])):
        tracker.track_request("gpt-5-mini", 1000, 100, 400)
    """
)


def test_trackers_in_several_processes_keep_exact_session_totals(manager):
    session = manager.create_session("gpt5_testing")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, manager.storage_path, session.session_id, "60"],
            stdin=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for worker in workers:
        worker.stdin.write(b"go\n")
        worker.stdin.close()
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0, 0, 0]
    tracker = GPT5CostTracker(manager=manager, session_id=session.session_id)
    result = tracker.track_request("gpt-5-mini", 1000, 100, 400)
    unit = (600 * Decimal("0.25") + 400 * Decimal("0.025") + 100 * 2) / M
    assert result["session_total"]["requests"] == 241
    assert manager.store.costs.total(session_id=session.session_id) == unit * 241
    assert result["session_total"]["tokens"]["cached_input"] == 400 * 241


def test_costs_cli_reports_exports_and_shows_budgets(store_path, tmp_path):
    from click.testing import CliRunner

    from m365_toolkit.cli import cli

    manager = SessionManager(store_path)  # the real clock, as the command has
    tracker, _ = tracker_for(manager)
    tracker.track_request("gpt-5", 1_000_000, 0, request_type="analysis")
    store = ["--store", manager.storage_path]
    run = CliRunner().invoke
    report = run(cli, ["costs", "report", "--by", "type", "--json", *store])
    assert json.loads(report.output)[0] | {"tokens": None} == {
        "type": "analysis", "requests": 1, "cost": "1.25", "tokens": None}  # fmt: skip
    table = run(cli, ["costs", "report", *store])
    assert "gpt-5" in table.output and "1.250000" in table.output
    target = tmp_path / "c.csv"
    assert (
        "Wrote 1 cost record(s)"
        in run(cli, ["costs", "export", "--csv", str(target), *store]).output
    )
    budget = run(cli, ["costs", "budget", "--daily", "1", "--monthly", "100", "--json", *store])
    states = {b["budget"]: b["exhausted"] for b in json.loads(budget.output)}
    assert states == {"daily": True, "monthly": False}
    empty = run(cli, ["costs", "budget", *store])
    assert empty.exit_code == 2 and "No budget is set" in empty.output


def test_printed_summaries_keep_the_original_layout(manager, capsys, new_store):
    tracker, _ = tracker_for(manager, budget_limit=5)
    tracker.track_request("gpt-5", 1_000_000, 100_000, 800_000, "reasoning")
    tracker.print_session_summary()
    summary = capsys.readouterr().out
    for line in ("  GPT-5 Cost Tracker - Session Summary", "   Requests: 1",
                 "   Cached tokens: 800,000", "💰 Session Cost: $1.3500",
                 "🎯 Budget Status (daily):", "   Remaining: $3.65"):  # fmt: skip
        assert line in summary.splitlines()
    tracker.print_detailed_report(days=7)
    report = capsys.readouterr().out.splitlines()
    assert "  GPT-5 Cost Report - Last 7 Days" in report
    assert "   gpt-5: $1.3500" in report  # 200k * 1.25 + 800k * 0.125 + 100k * 10 per 1M
    assert "   Cached tokens: 800,000 (saves $0.90)" in report  # 800k * (1.25 - 0.125) per 1M
    assert "   • Heavy reasoning API usage - use Chat Completions for simple queries" in report
    with SessionManager(new_store(store_kind(manager.storage_path))) as other:
        assert "No usage data available." in GPT5CostTracker(manager=other).detailed_report()
