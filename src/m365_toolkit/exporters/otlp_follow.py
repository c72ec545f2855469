"""Live export that the writers do not pay for: a follower process that tails a SQL store's
sequence and sends each session when it closes, and each cost record, as spans over
OTLP/HTTP (``sessions export --format otlp --follow``).

Live mode inside the writers (:class:`.otel.LiveExporter`) runs the OpenTelemetry SDK and
its protobuf encoding under the writer's own GIL, and costs a writer about a third of its
throughput with OTLP (``bench/bench_otel.py``). The follower runs them in a process of its
own, on another core; the writers do nothing more than they always do. It reads the store
(:mod:`..store.sql_feed`) and writes nothing to it.

The spans are replay's (:mod:`.otlp_replay`): the same attributes, the original times, ids
derived from what they record. A batch sent twice (after a crash, or replayed later) gives
the backend the same spans again, not duplicates.

The cursor (``--cursor FILE``) is the number up to which everything has been sent, saved
(atomically) after each batch the backend took: a follower restarted on it, after a stop or
a SIGKILL, goes on where it was, sending at most one batch again. Without a cursor it starts
at the store's present end. A backend that is down or refuses a batch is retried with a
growing pause (up to :data:`MAX_PAUSE` seconds); the cursor waits, so nothing is skipped.
So is a store that cannot be read for a while (the server restarting); a corrupt one stops
the follower with the error.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .._util.atomic import atomic_text_file
from ..costs.model import CostRecord
from ..errors import ConfigError, CorruptStoreError, SchemaError, StoreError
from .otlp_replay import BATCH, cost_span, otlp_exporter, send, session_span, stored_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    from ..store import Store
    from ..store.sql_feed import Feed

log = logging.getLogger("m365_toolkit.exporters")
POLL = 1.0  # seconds between looks at the store once everything is sent
MAX_PAUSE = 30.0  # the longest wait before sending a refused batch again


@dataclass(frozen=True, slots=True)
class Followed:
    """What :func:`follow` sent before it stopped, and its cursor then."""

    sessions: int
    costs: int
    spans: int
    through: int | None  # None: stopped before its first place was saved


class Cursor:
    """The number up to which a follower has sent everything, in a small JSON file that
    names its store; no file, no memory across runs (``path`` ``None``)."""

    def __init__(self, path: Path | None, store_id: str) -> None:
        self.path = path
        self.store_id = store_id

    def load(self) -> int | None:
        """The saved number, or ``None`` when there is none yet.

        Raises:
            ConfigError: The file is unreadable, damaged, or another store's; it is left as
                it is.
        """
        if self.path is None or not self.path.exists():
            return None
        shown = str(self.path)
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(
                f"The export cursor {shown!r} cannot be read ({exc}); it was left untouched. "
                "Move it aside to start from the store's present end."
            ) from exc
        through = saved.get("through") if isinstance(saved, dict) else None
        if isinstance(through, bool) or not isinstance(through, int) or through < 0:
            raise ConfigError(
                f"The export cursor {shown!r} is damaged: it holds no record number "
                f'("through"); it was left untouched. Move it aside to start afresh.'
            )
        if saved.get("store_id") != self.store_id:
            raise ConfigError(
                f"The export cursor {shown!r} belongs to another store "
                f"({str(saved.get('store_id'))!r:.60}, not {self.store_id!r}); it was left "
                "untouched. Give each store a cursor file of its own."
            )
        return through

    def save(self, through: int) -> None:
        """Keep ``through`` (replacing the file whole)."""
        if self.path is not None:
            with atomic_text_file(self.path, "export cursor") as file:
                json.dump({"store_id": self.store_id, "through": through}, file)


def follow(
    store: Store,
    endpoint: str | None = None,
    *,
    cursor: Path | None = None,
    since: datetime | None = None,
    exporter: SpanExporter | None = None,
    poll: float = POLL,
    timeout: float = 10.0,
    stop: threading.Event | None = None,
) -> Followed:
    """Send what closes in ``store`` as spans, until ``stop`` is set.

    Args:
        store: A SQLite or PostgreSQL store.
        endpoint: The OTLP/HTTP traces URL, e.g. ``http://collector:4318/v1/traces``.
        cursor: The file that keeps the follower's place across runs.
        since: On a first run (no saved cursor), first send the history from this time on,
            as :func:`.otlp_replay.replay` does.
        exporter: A span exporter to use instead of OTLP/HTTP to ``endpoint``.
        poll: Seconds between looks at the store once everything is sent.
        timeout: Seconds per OTLP request.
        stop: Set it to stop (after the request under way); ``None``: follow forever.

    Raises:
        ConfigError: The store is not a SQL store, the cursor file is unusable, the
            ``otel-export`` extra is missing or neither ``endpoint`` nor ``exporter`` given.
    """
    feed = _feed(store)
    place = Cursor(cursor, feed.store_id())
    stop = stop or threading.Event()
    exporter = exporter or otlp_exporter(endpoint, timeout)
    sender = _Sender(exporter, stop, poll)
    try:
        after = place.load()
        if after is None:
            after = feed.high_water()
            if since is not None:  # the history first: everything up to ``after``
                for kind, span in stored_spans(store, since):
                    if stop.is_set():
                        break
                    sender.add(kind, span)
                if not sender.flush():
                    return Followed(sender.sessions, sender.costs, sender.spans, None)
            place.save(after)
        pause = poll
        while not stop.is_set():
            try:
                after = _send_new(feed, sender, place, after, stop)
                pause = poll
            except (CorruptStoreError, SchemaError):
                raise  # reported, never waited out
            except StoreError as exc:  # the server gone, a connection lost: wait, read again
                log.warning("Reading %s failed; trying again in %.0f s: %s",
                            store.location, pause, exc)  # fmt: skip
                pause = min(pause * 2, MAX_PAUSE)
            stop.wait(pause)
    finally:
        exporter.shutdown()
    return Followed(sender.sessions, sender.costs, sender.spans, after)


def _send_new(feed: Feed, sender: _Sender, place: Cursor, after: int, stop: threading.Event) -> int:
    """Send what was recorded above ``after``, batch by batch, saving the place after each;
    return the place reached."""
    high = feed.high_water()
    while after < high and not stop.is_set():
        batch = feed.read(after, high)
        for session in batch.sessions:
            sender.add("session", session_span(session))
        for entry in batch.costs:
            sender.add("cost", cost_span(CostRecord.from_entry(entry)))
        if not sender.flush():
            break  # stopped with a batch unsent: the place stays before it
        after = batch.through
        place.save(after)
    return after


def _feed(store: Store) -> Feed:
    from ..store.sql import SQLStore
    from ..store.sql_feed import Feed

    if not isinstance(store, SQLStore):
        raise ConfigError(
            f"Following needs a SQLite or PostgreSQL store; {store.location!r} is not one. "
            "Send its history with sessions export --format otlp (no --follow)."
        )
    return Feed(store)


class _Sender:
    """Spans gathered into requests of :data:`~.otlp_replay.BATCH`, each sent until the
    backend takes it or the follower is stopped."""

    def __init__(self, exporter: SpanExporter, stop: threading.Event, poll: float) -> None:
        self._exporter, self._stop, self._poll = exporter, stop, poll
        self._pending: list[ReadableSpan] = []
        self._waiting = Counter[str]()  # the pending spans' kinds
        self.sessions = self.costs = self.spans = 0

    def add(self, kind: str, span: ReadableSpan) -> None:
        self._pending.append(span)
        self._waiting[kind] += 1
        if len(self._pending) >= BATCH:
            self._send()

    def flush(self) -> bool:
        """Send what is gathered; ``False`` (and nothing gathered) when the follower was
        stopped before the backend took it all."""
        self._send()
        if self._pending:
            self._pending.clear()
            self._waiting.clear()
            return False
        return True

    def _send(self) -> None:
        pause = self._poll
        while self._pending and not self._stop.is_set():
            try:
                self.spans += send(self._exporter, self._pending, self.spans)
            except StoreError:
                log.warning(
                    "The OpenTelemetry backend did not take %d spans; trying again in %.0f s "
                    "(the store is untouched, the cursor waits).", len(self._pending), pause,
                )  # fmt: skip
                self._stop.wait(pause)
                pause = min(pause * 2, MAX_PAUSE)
            else:
                self.sessions += self._waiting.pop("session", 0)
                self.costs += self._waiting.pop("cost", 0)
