"""OpenTelemetry: live export hangs on the store's append path, replay sends stored history;
both through the real OTLP/HTTP exporter to a receiver on loopback that decodes protobuf."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.cost_tracker import GPT5CostTracker
from m365_toolkit.exporters.otel import nanoseconds
from m365_toolkit.exporters.otlp_replay import replay, span_id, trace_id

from .otlp_receiver import Receiver, attributes, free_port


def seeded(location, clock) -> list[str]:
    """Two finished sessions (one failed) with events and costs, one still active."""
    ids = []
    with SessionManager(location, clock=clock) as manager:
        for number, status in enumerate(("success", "error")):
            session = manager.create_session("security_audit", metadata={"n": number})
            clock.advance(seconds=2)
            session.add_event("progress", f"control 1.{number}", {"control": f"1.{number}"})
            GPT5CostTracker(session_id=session.session_id, manager=manager, clock=clock) \
                .track_request("gpt-5", prompt_tokens=1500, completion_tokens=200,
                               cached_tokens=500)  # fmt: skip
            clock.advance(seconds=3)
            session.complete(status)
            ids.append(session.session_id)
        manager.create_session("remediation")
    return ids


def test_replay_sends_sessions_events_and_costs_with_their_own_times_and_ids(tmp_path, clock):
    store = tmp_path / "sessions.db"
    ids = seeded(store, clock)
    with Receiver() as receiver:
        command = ["sessions", "export", "--store", str(store), "--format", "otlp",
                   "--endpoint", receiver.endpoint]  # fmt: skip
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        assert "Sent 2 session(s) and 2 cost record(s) as 4 span(s)" in result.output
        spans = receiver.wait_for(4)
    by_name = Counter(span.name for span in spans)
    assert by_name == {"security_audit": 2, "chat gpt-5": 2}
    with SessionManager(store) as manager:
        for session_id, span in zip(
            ids, sorted((s for s in spans if s.name == "security_audit"),
                        key=lambda s: s.start_time_unix_nano), strict=True,
        ):  # fmt: skip
            stored = manager.store.get(session_id)
            found = attributes(span)
            assert found["session.id"] == session_id
            assert found["user.id"] == stored["user"]
            assert found["m365_toolkit.status"] == stored["status"]
            assert int.from_bytes(span.trace_id, "big") == trace_id(session_id)
            assert int.from_bytes(span.span_id, "big") == span_id(session_id)
            assert span.start_time_unix_nano == nanoseconds(
                manager.get_session(session_id).start_time
            )
            assert [e.name for e in span.events] == [e["type"] for e in stored["events"]]
            assert span.events[1].time_unix_nano == nanoseconds(
                manager.get_session(session_id).events[1].timestamp
            )
            assert span.status.code == (2 if stored["status"] == "error" else 0)
    for span in (s for s in spans if s.name == "chat gpt-5"):
        found = attributes(span)
        assert found["gen_ai.provider.name"] == "openai"
        assert found["gen_ai.usage.input_tokens"] == 1500
        assert found["gen_ai.usage.cache_read.input_tokens"] == 500
        assert found["gen_ai.usage.output_tokens"] == 200
        # gpt-5: 1,000 input at $1.25/M, 500 cached at $0.125/M, 200 output at $10/M.
        assert found["m365_toolkit.cost.total_usd"] == "0.0033125"
        assert abs(found["gen_ai.usage.cost"] - 0.0033125) < 1e-12
        assert int.from_bytes(span.parent_span_id, "big") == span_id(found["session.id"])
        assert int.from_bytes(span.trace_id, "big") == trace_id(found["session.id"])


def test_replaying_twice_sends_the_same_ids(tmp_path, clock):
    store = tmp_path / "sessions.db"
    seeded(store, clock)
    sent = []
    for _ in range(2):
        with Receiver() as receiver, SessionManager(store) as manager:
            replay(manager.store, receiver.endpoint)
            sent.append(sorted((s.trace_id, s.span_id, s.parent_span_id)
                               for s in receiver.wait_for(4)))  # fmt: skip
    assert sent[0] == sent[1] and len(sent[0]) == 4


def test_live_export_turns_each_committed_record_into_spans(tmp_path, clock):
    with Receiver() as receiver:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(receiver.endpoint)))
        with SessionManager(tmp_path / "s.db", clock=clock, otel=provider) as manager:
            session = manager.create_session("security_audit", metadata={"api_key": "x"})
            session.add_event("progress", "step")
            GPT5CostTracker(session_id=session.session_id, manager=manager, clock=clock) \
                .track_request("gpt-5", prompt_tokens=10, completion_tokens=5)  # fmt: skip
            clock.advance(seconds=4)
            session.complete("success")
        provider.shutdown()
        spans = receiver.wait_for(2)
    audit = next(s for s in spans if s.name == "security_audit")
    chat = next(s for s in spans if s.name == "chat gpt-5")
    assert [e.name for e in audit.events] == ["start", "progress", "complete"]
    assert audit.end_time_unix_nano - audit.start_time_unix_nano == 4_000_000_000
    assert json.loads(attributes(audit)["m365_toolkit.metadata"]) == {"api_key": "[REDACTED]"}
    assert chat.parent_span_id == audit.span_id and chat.trace_id == audit.trace_id


def test_a_dead_or_hanging_collector_loses_spans_never_records(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/v1/traces"
    with Receiver(hang=True) as hanging:
        for endpoint in (closed, hanging.endpoint):
            provider = TracerProvider()
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint, timeout=1), schedule_delay_millis=10)
            )
            store = tmp_path / f"{len(list(tmp_path.iterdir()))}.db"
            with SessionManager(store, otel=provider) as manager:
                for _ in range(50):
                    with manager.session("security_audit") as session:
                        session.add_event("progress", "step")
                assert manager.get_statistics(days=None)["total_sessions"] == 50
            provider.shutdown()


def test_live_export_works_on_the_global_provider_with_no_sdk_configured(tmp_path):
    # The API alone (the otel extra): spans are no-ops, the trail is unchanged.
    with SessionManager(tmp_path / "s.db", otel=True) as manager:
        with manager.session("security_audit") as session:
            session.add_event("progress", "step")
        assert len(manager.get_session(session.session_id).events) == 3


def test_sampled_out_sessions_send_nothing_and_their_cost_spans_follow_them(tmp_path, clock):
    # A sampler keeping about half the traces: each session is sent whole, with its events
    # and cost spans, or not at all; the trail keeps every session either way.
    with Receiver() as receiver:
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.5)))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(receiver.endpoint)))
        with SessionManager(tmp_path / "s.db", clock=clock, otel=provider) as manager:
            ids = []
            for _ in range(40):
                with manager.session("security_audit") as session:
                    session.add_event("progress", "step", {"n": 1})
                    GPT5CostTracker(session_id=session.session_id, manager=manager, clock=clock) \
                        .track_request("gpt-5", prompt_tokens=10, completion_tokens=5)  # fmt: skip
                ids.append(session.session_id)
            assert manager.get_statistics(days=None)["total_sessions"] == 40
        provider.shutdown()
        sessions = [s for s in receiver.spans if s.name == "security_audit"]
        assert 0 < len(sessions) < 40  # 40 fair coins: all one side has odds 2 in 10^12
        spans = receiver.wait_for(2 * len(sessions))
    sent = {attributes(s)["session.id"] for s in spans if s.name == "security_audit"}
    chats = [s for s in spans if s.name == "chat gpt-5"]
    assert {attributes(c)["session.id"] for c in chats} == sent <= set(ids)
    assert all([e.name for e in s.events] == ["start", "progress", "complete"]
               for s in spans if s.name == "security_audit")  # fmt: skip


WRITER = """
import sys
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(sys.argv[2])))
trace.set_tracer_provider(provider)  # the application's choice; M365_TOOLKIT_OTEL=1 uses it
from m365_toolkit import SessionManager
with SessionManager(sys.argv[1]) as manager:
    for _ in range(10):
        with manager.session("security_audit") as session:
            session.add_event("progress", "step")
provider.shutdown()
"""


def test_live_export_from_four_writer_processes(tmp_path):
    store = tmp_path / "sessions.db"
    with Receiver() as receiver:
        env = {"M365_TOOLKIT_OTEL": "1", "PATH": "/usr/bin:/bin"}
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(store), receiver.endpoint], env=env
            )  # fmt: skip
            for _ in range(4)
        ]
        assert [writer.wait(60) for writer in writers] == [0, 0, 0, 0]
        spans = receiver.wait_for(40)
    assert len(spans) == 40
    assert {len(span.events) for span in spans} == {3}
    with SessionManager(store) as manager:
        stored = {s["session_id"] for s in manager.get_session_history(days=None)}
    assert {attributes(span)["session.id"] for span in spans} == stored


MCP_CALL = """
import anyio, json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(provider)
from mcp.client import Client
from m365_toolkit.mcp_server import build_server

async def main():
    async with Client(build_server(root=sys.argv[1])) as client:
        await client.call_tool("session_statistics", {"days": 30})
anyio.run(main)
print(json.dumps([{"name": s.name, "span": s.context.span_id,
                   "parent": s.parent.span_id if s.parent else None,
                   "attributes": dict(s.attributes)} for s in memory.get_finished_spans()]))
"""


def test_an_mcp_tool_calls_span_names_its_session_and_holds_the_session_span(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", MCP_CALL, str(tmp_path)], capture_output=True, text=True,
        env={"M365_TOOLKIT_OTEL": "1", "PATH": "/usr/bin:/bin"}, timeout=60, check=True,
    ).stdout  # fmt: skip
    spans = json.loads(out.strip().splitlines()[-1])
    call = next(s for s in spans if s["name"] == "tools/call session_statistics")
    session = next(s for s in spans if s["name"] == "session_query")
    assert call["attributes"]["session.id"] == session["attributes"]["session.id"]
    assert session["parent"] == call["span"]
