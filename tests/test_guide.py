"""Every Python snippet of the guide runs as written, from a checkout, in a fresh process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from m365_toolkit import SessionManager

from .guide_runner import snippets

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "SESSION_MANAGEMENT.md"
SHARED_GUIDE = ROOT.parent / "shared" / "spec" / "SESSION_MANAGEMENT.md"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
SIGNATURES_ONLY = {"Session Class", "SessionManager Class", "Helper Functions"}
HEADINGS = [heading for heading, _ in snippets(GUIDE.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def guide_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    workdir = tmp_path_factory.mktemp("guide")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "M365_TOOLKIT_USER": "admin@contoso.com"}
    env.pop("M365_TOOLKIT_STORE", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "guide_runner.py"), str(GUIDE), str(workdir)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout), workdir


def test_the_guide_in_docs_is_the_shared_specification():
    if not SHARED_GUIDE.exists():
        pytest.skip(f"no shared specification at {SHARED_GUIDE}")
    assert GUIDE.read_text(encoding="utf-8") == SHARED_GUIDE.read_text(encoding="utf-8")


@pytest.mark.parametrize("index", range(len(HEADINGS)), ids=lambda i: f"{i}-{HEADINGS[i]}")
def test_guide_snippet_runs(guide_run, index):
    report, _ = guide_run
    heading = HEADINGS[index]
    result = report[index]
    if heading in SIGNATURES_ONLY:
        assert result["status"] == "syntax"  # signatures without bodies, not code to run
        return
    assert result["status"] == "ok", result.get("error")


def test_the_guide_snippets_leave_the_sessions_they_describe(guide_run):
    report, workdir = guide_run
    by_heading = {item["heading"]: item for item in report}
    assert re.fullmatch(f"Session ID: {UUID}\n", by_heading["Basic Usage"]["stdout"])
    stats_out = by_heading["Print Formatted Statistics"]["stdout"]
    assert "  Session Statistics - Last 30 Days" in stats_out
    assert "📊 Overview:" in stats_out and "✅ By Status:" in stats_out
    assert "Total Sessions: " in by_heading["Get Session Statistics"]["stdout"]
    assert re.search(r"Success Rate: \d+\.\d%", by_heading["Programmatic Analysis"]["stdout"])
    assert f"{workdir}/custom/sessions.json" not in str(report)  # paths were rewritten once
    assert (workdir / "custom").is_dir()
    with SessionManager(workdir / "custom2" / "sessions.json") as custom:
        assert {s["operation_type"] for s in custom.get_session_history()} == {
            "security_audit", "sharepoint_analysis"
        }  # fmt: skip

    with SessionManager(workdir / "output" / "sessions" / "sessions.db") as manager:
        history = manager.get_session_history(days=1)
        quick_start = [
            s for s in history if s["metadata"].get("tenant") == "contoso.onmicrosoft.com"
        ]
        assert quick_start, "the quick start session was not stored"
        first = quick_start[-1]
        assert first["status"] == "success" and first["user"] == "admin@contoso.com"
        assert [e["description"] for e in first["events"]] == [
            "Session started for security_audit",
            "Connecting to Exchange Online",
            "Running CIS controls checks",
            "Analyzing results",
            "Session completed with status: success",
        ]
        costs = manager.store.costs.report("operation")
        assert [(g.key, g.totals.requests) for g in costs] == [("gpt5_analysis", 1)]
        assert by_heading["Integration with Cost Tracking"]["stdout"].startswith("Session ID: ")
        audit = [s for s in history if s["metadata"].get("spo_admin_url")]
        assert audit[0]["events"][-2]["description"] == "Audit completed with 92.5% compliance"
