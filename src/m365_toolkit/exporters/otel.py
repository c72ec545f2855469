"""The audit trail as OpenTelemetry traces: a session is a span, each event a span event, each
LLM cost record a GenAI client span (``chat {model}``) under its session.

:class:`LiveExporter` is a listener on the store's append path (``store.listen``): it sees each
record once it is committed and turns it into spans through the OpenTelemetry API, on the
tracer provider given or the global one. The library never configures the SDK; without one
installed the spans are no-ops. Export never slows, blocks or breaks the trail: spans go to
the provider's processor (a batch processor exports off the writer's thread), and a failure
here is logged by the journal, never raised into a write.

:func:`span_parts` gives the attributes that live mode and replay (:mod:`.otlp_replay`) share.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..costs.model import CostRecord, usd, usd_text
from ..sessions.event import Event
from . import otel_names as names

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from ..store._journal import Record

_PROVIDER_IN_SOURCE = re.compile(r"\(([\w.-]+)/")
_sorted_json = json.JSONEncoder(sort_keys=True).encode  # json.dumps(sort_keys=True), made once
_FAILED = ("error", "cancelled")


def nanoseconds(moment: datetime) -> int:
    """A time as OpenTelemetry wants it: nanoseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000) * 1000


def session_attributes(session: Mapping[str, Any]) -> dict[str, Any]:
    """A session span's attributes, from the session as stored (metadata already redacted)."""
    attributes: dict[str, Any] = {
        names.SESSION_ID: session["session_id"],
        names.USER_ID: session.get("user") or "unknown",
        names.OPERATION_TYPE: session.get("operation_type") or "general",
        names.METADATA: _sorted_json(session.get("metadata") or {}),
    }
    if session.get("host"):
        attributes[names.HOST] = session["host"]
    if session.get("pid") is not None:
        attributes[names.PID] = int(session["pid"])
    return attributes


def event_attributes(event: Event) -> dict[str, Any]:
    """A span event's attributes: the description and the data (redacted at entry)."""
    attributes: dict[str, Any] = {names.EVENT_DESCRIPTION: event.description}
    if event.data:
        attributes[names.EVENT_DATA] = _sorted_json(event.data)
    if event.seq is not None:
        attributes[names.SEQ] = event.seq
    return attributes


def cost_attributes(record: CostRecord) -> dict[str, Any]:
    """A GenAI client span's attributes; never prompt or completion text."""
    usage = record.usage
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION: _operation(record.request_type),
        names.GEN_AI_PROVIDER: provider_of(record),
        names.GEN_AI_REQUEST_MODEL: record.model,
        names.GEN_AI_INPUT_TOKENS: usage.input,
        names.GEN_AI_CACHE_READ_TOKENS: usage.cached_input,
        names.GEN_AI_OUTPUT_TOKENS: usage.output,
        names.GEN_AI_REASONING_TOKENS: usage.reasoning,
        names.GEN_AI_COST: usd(record.cost.total),
        names.COST_USD: usd_text(record.cost.total),
        names.REQUEST_TYPE: record.request_type,
        names.PRICE_SOURCE: record.cost.source,
        names.USER_ID: record.user,
    }
    if record.session_id is not None:
        attributes[names.SESSION_ID] = record.session_id
    return attributes


def provider_of(record: CostRecord) -> str:
    """The provider, from the price source (``genai-prices 0.2.3 (openai/gpt-5)``) or the
    model's family; ``unknown`` when neither tells."""
    found = _PROVIDER_IN_SOURCE.search(record.cost.source)
    if found:
        return found.group(1)
    model = record.model.lower()
    if model.startswith(("gpt", "o1", "o3", "o4", "text-embedding", "chatgpt")):
        return "openai"
    if model.startswith("claude"):
        return "anthropic"
    if model.startswith("gemini"):
        return "gcp.gemini"
    return "unknown"


def span_name(record: CostRecord) -> str:
    """``{operation} {model}``, as the GenAI conventions name an inference span."""
    return f"{_operation(record.request_type)} {record.model}"


def failed(status: str | None) -> bool:
    """Whether a session that ended with ``status`` is an error span."""
    return status in _FAILED


def _operation(request_type: str) -> str:
    kind = request_type.lower()
    if kind.startswith("embed"):
        return "embeddings"
    if kind in ("completion", "text_completion"):
        return "text_completion"
    return "chat"


class LiveExporter:
    """A store listener that turns committed records into spans as they happen.

    Args:
        tracer_provider: Where spans go; the global provider when ``None``.

    A session's span lives in the process that started it: events and completions recorded
    by another process for it (``complete_session`` of a session started elsewhere) are left
    to that process, and replay covers them.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        from opentelemetry import trace  # the otel extra: imported only when live mode is on

        self._trace = trace
        self._tracer = trace.get_tracer(names.SCOPE, __version__, tracer_provider)
        self._spans: dict[str, Span] = {}
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        if record.kind == "cost":
            assert record.cost is not None
            self._cost(record.cost)
            return
        assert record.event is not None and record.session_id is not None
        if record.kind == "start":
            assert record.session is not None
            span = self._tracer.start_span(
                str(record.session.get("operation_type") or "general"),
                start_time=nanoseconds(record.timestamp),
                attributes=session_attributes(record.session),
            )
            with self._lock:
                self._spans[record.session_id] = span
        with self._lock:
            span = self._spans.get(record.session_id)  # type: ignore[assignment]
        if span is None:
            return
        # A span sampled out (or of no SDK) records nothing: its attributes are not built.
        recording = span.is_recording()
        if recording:
            event = record.event
            span.add_event(event.type, event_attributes(event), nanoseconds(event.timestamp))
        if record.kind == "complete":
            assert record.session is not None
            with self._lock:
                self._spans.pop(record.session_id, None)
            if recording:
                status = str(record.session["status"])
                span.set_attribute(names.STATUS, status)
                span.set_attribute(names.DURATION, float(record.session["duration_seconds"]))
                if failed(status):
                    span.set_status(self._trace.StatusCode.ERROR, f"session ended with {status}")
            span.end(nanoseconds(record.session["end_time"]))

    def _cost(self, cost: CostRecord) -> None:
        with self._lock:
            parent = self._spans.get(cost.session_id) if cost.session_id else None
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        at = nanoseconds(cost.timestamp)
        span = self._tracer.start_span(
            span_name(cost),
            context=context,
            kind=self._trace.SpanKind.CLIENT,
            start_time=at,
            attributes=cost_attributes(cost),
        )
        span.end(at)
