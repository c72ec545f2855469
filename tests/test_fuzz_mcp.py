"""MCP tool arguments fuzzed over the SDK's in-process client (issue 9), bounded for CI:
every call is one session, a refused call is a one-line error naming it, nothing crashes,
and the remediation applies only when both flags say so as JSON booleans.

bench/fuzz.py --surface mcp runs the same checks over 100,000 calls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from m365_toolkit.mcp_server import build_server
from m365_toolkit.store import open_store

STANDIN = Path(__file__).resolve().parent / "standins" / "fake_audit.py"
TOOLS = {
    "list_sessions": ["operation_type", "user", "status", "days", "limit"],
    "get_session": ["session_id"],
    "session_statistics": ["days"],
    "cost_report": ["days", "group_by"],
    "get_compliance_status": [],
    "analyze_sharepoint_permissions": ["input_file"],
    "remediate_security_issues": ["preview_only", "force_apply"],
}
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
    | st.sampled_from(
        ["true", "false", "1", "operation", "success", "../../etc/passwd", "x.csv", "[/]"]
    )
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    tool = draw(st.sampled_from([*TOOLS, "no_such_tool"]))
    names = TOOLS.get(tool, []) + ["unexpected"]
    args = draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=3))
    return tool, args


@pytest.fixture
def standins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M365_TOOLKIT_REMEDIATION_COMMAND", f"{sys.executable} {STANDIN} remediate")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(calls(), min_size=1, max_size=6))
def test_fuzzed_tool_calls_are_sessions_with_clean_answers(tmp_path_factory, standins, batch):
    root = tmp_path_factory.mktemp("root")
    store = open_store(root / "sessions.db")

    async def run() -> list[Any]:
        async with Client(build_server(root, store)) as client:
            return [await client.call_tool(tool, args) for tool, args in batch]

    try:
        results = anyio.run(run)
        stored = {s["session_id"]: s for s in store.history(_all())}
    finally:
        store.close()
    assert len(stored) == len(batch)  # every call, refused or not, is a session
    for (tool, args), result in zip(batch, results, strict=True):
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        if result.is_error:
            assert "\n" not in text.strip() and "internal error" not in text, text[:300]
            assert [sid for sid in stored if sid in text], text[:300]
            continue
        data = result.structured_content or {}
        assert data.get("session_id") in stored
        if tool == "remediate_security_issues" and data.get("mode") == "apply":
            assert args.get("preview_only") is False and args.get("force_apply") is True


def _all() -> Any:
    from m365_toolkit.sessions.query import SessionQuery

    return SessionQuery()
