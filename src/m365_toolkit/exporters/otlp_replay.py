"""Replay stored history to an OpenTelemetry backend over OTLP/HTTP (the ``otel-export``
extra: the OpenTelemetry SDK and its OTLP/HTTP exporter).

Spans keep their original start, end and event times, and their ids are derived from what
they record, so sending the same range twice gives the backend the same spans again rather
than duplicates:

- trace id = the first 16 bytes of SHA-256("m365-toolkit/otel/trace" ‖ session id);
- a session's span id = 8 bytes of SHA-256("m365-toolkit/otel/span" ‖ session id);
- a cost record's span id = 8 bytes of SHA-256 over the record's natural key (time,
  session, model, request type, tokens), which identifies it in every store.

Sessions still active are left out (they have no end yet); a later replay sends them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._util.system import parse_time
from ..costs.model import CostRecord
from ..errors import ConfigError, StoreError
from ..sessions.event import Event
from . import otel_names as names
from .otel import (
    cost_attributes,
    event_attributes,
    failed,
    nanoseconds,
    session_attributes,
    span_name,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from ..store import Store

BATCH = 512  # spans per OTLP request


@dataclass(frozen=True, slots=True)
class Replay:
    """What :func:`replay` sent: sessions and cost records, as spans."""

    sessions: int
    costs: int
    spans: int


def trace_id(key: str) -> int:
    """The trace id of a session (or of a cost record without one)."""
    return _digest("m365-toolkit/otel/trace", key, 16)


def span_id(key: str) -> int:
    """The span id of a session or a cost record."""
    return _digest("m365-toolkit/otel/span", key, 8) or 1  # 0 is not a valid span id


def replay(
    store: Store,
    endpoint: str | None = None,
    *,
    since: datetime | None = None,
    exporter: SpanExporter | None = None,
    timeout: float = 10.0,
) -> Replay:
    """Send the finished sessions started since ``since`` (all when ``None``), their events
    and the cost records of that window, as spans.

    Args:
        store: The store to read.
        endpoint: The OTLP/HTTP traces URL, e.g. ``http://collector:4318/v1/traces``.
        since: Only sessions and cost records from this time on.
        exporter: A span exporter to use instead of OTLP/HTTP to ``endpoint``.
        timeout: Seconds per OTLP request.

    Raises:
        ConfigError: The ``otel-export`` extra is missing, or neither ``endpoint`` nor
            ``exporter`` is given.
        StoreError: The backend refused or did not answer a batch.
    """
    exporter = exporter or otlp_exporter(endpoint, timeout)
    sessions = costs = spans = 0
    pending: list[ReadableSpan] = []
    for kind, span in stored_spans(store, since):
        pending.append(span)
        if kind == "session":
            sessions += 1
        else:
            costs += 1
        if len(pending) >= BATCH:
            spans += send(exporter, pending, spans)
    spans += send(exporter, pending, spans)
    exporter.shutdown()
    return Replay(sessions, costs, spans)


def stored_spans(store: Store, since: datetime | None = None) -> Iterator[tuple[str, ReadableSpan]]:
    """``("session", span)`` for each finished session started since ``since``, then
    ``("cost", span)`` for each cost record of that window, oldest first."""
    for batch in store.scan(since):
        for session in batch:
            if session.get("status", "active") != "active" and session.get("end_time"):
                yield "session", session_span(session)
    for entry in store.costs.entries(since):
        yield "cost", cost_span(CostRecord.from_entry(entry))


def send(exporter: SpanExporter, spans: list[ReadableSpan], before: int = 0) -> int:
    """Export ``spans`` in one request and empty the list; return how many were sent.

    Raises:
        StoreError: The backend refused or did not answer (``before``: how many spans were
            sent before this batch, for the message); the list is left as it was.
    """
    if not spans:
        return 0
    from opentelemetry.sdk.trace.export import SpanExportResult

    if exporter.export(spans) is not SpanExportResult.SUCCESS:
        raise StoreError(
            f"The OpenTelemetry backend did not take a batch of {len(spans)} spans "
            f"({before} sent before it); nothing is lost: replay again, it sends the "
            "same spans with the same ids."
        )
    count = len(spans)
    spans.clear()
    return count


def session_span(session: Mapping[str, Any]) -> ReadableSpan:
    """A finished session as a span: its events as span events, with their own times."""
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import Status, StatusCode

    session_id = str(session["session_id"])
    status = str(session.get("status"))
    # Straight from the stored dicts: they were validated and redacted when written.
    events = [
        Event(parse_time(event["timestamp"]), event["type"], event.get("description", ""),
              event.get("data") or {}, event.get("seq"))
        for event in session.get("events") or ()
    ]  # fmt: skip
    attributes = session_attributes(session)
    attributes[names.STATUS] = status
    if session.get("duration_seconds") is not None:
        attributes[names.DURATION] = float(session["duration_seconds"])
    return ReadableSpan(
        name=str(session.get("operation_type") or "general"),
        context=_context(trace_id(session_id), span_id(session_id)),
        attributes=attributes,
        events=[
            SpanEvent(event.type, event_attributes(event), nanoseconds(event.timestamp))
            for event in events
        ],
        status=(
            Status(StatusCode.ERROR, f"session ended with {status}")
            if failed(status)
            else Status(StatusCode.UNSET)
        ),
        start_time=nanoseconds(parse_time(session["start_time"])),
        end_time=nanoseconds(parse_time(session["end_time"])),
        resource=_resource(),
        instrumentation_scope=_scope(),
    )


def cost_span(record: CostRecord) -> ReadableSpan:
    """A cost record as a GenAI client span under its session's span."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanKind

    key = "\x1f".join(map(str, record.natural_key))
    owner = record.session_id or key
    parent = _context(trace_id(owner), span_id(owner)) if record.session_id else None
    at = nanoseconds(record.timestamp)
    return ReadableSpan(
        name=span_name(record),
        context=_context(trace_id(owner), span_id(key)),
        parent=parent,
        kind=SpanKind.CLIENT,
        attributes=cost_attributes(record),
        start_time=at,
        end_time=at,
        resource=_resource(),
        instrumentation_scope=_scope(),
    )


def otlp_exporter(endpoint: str | None, timeout: float = 10.0) -> SpanExporter:
    """The OTLP/HTTP span exporter to ``endpoint``.

    Raises:
        ConfigError: No endpoint, or the ``otel-export`` extra is missing.
    """
    if not endpoint:
        raise ConfigError("Give the OTLP/HTTP endpoint, e.g. http://localhost:4318/v1/traces.")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            "Sending to OpenTelemetry needs the otel-export extra: "
            "pip install 'm365-security-toolkit[otel-export]'."
        ) from exc
    return OTLPSpanExporter(endpoint=endpoint, timeout=timeout)


def _context(trace: int, span: int) -> Any:
    from opentelemetry.trace import SpanContext, TraceFlags

    return SpanContext(trace, span, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))


@functools.cache
def _resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": "m365-toolkit", "service.version": __version__})


@functools.cache
def _scope() -> Any:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    return InstrumentationScope(names.SCOPE, __version__)


def _digest(domain: str, key: str, size: int) -> int:
    value = hashlib.sha256(f"{domain}\x00{key}".encode()).digest()[:size]
    return int.from_bytes(value, "big")
