"""What OpenTelemetry export costs: lifecycles per second with live export on (SDK + batch
processor + OTLP/HTTP exporter to a receiver on loopback) vs off, in the same run, and replay
throughput over a store of stored sessions (spans per second). Two more modes in the same
rounds tell the cost apart: the API alone (no SDK: what the toolkit itself does per record)
and the SDK with its batch processor and an exporter that drops every batch (no encoding).

    python bench/bench_otel.py [--lifecycles 2000] [--sessions 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from m365_toolkit import Session, SessionManager  # noqa: E402
from m365_toolkit.exporters.otlp_replay import replay  # noqa: E402
from tests.otlp_receiver import Receiver  # noqa: E402


def _collector(endpoints: multiprocessing.Queue, done: multiprocessing.Event) -> None:
    """A receiver in a process of its own, as a real collector is: its decoding must not take
    the writers' GIL."""
    with Receiver() as receiver:
        endpoints.put(receiver.endpoint)
        done.wait()
        endpoints.put(len(receiver.spans))


class Collector:
    def __enter__(self) -> Collector:
        self._queue: multiprocessing.Queue = multiprocessing.Queue()
        self._done = multiprocessing.Event()
        self._process = multiprocessing.Process(target=_collector, args=(self._queue, self._done))
        self._process.start()
        self.endpoint: str = self._queue.get(timeout=30)
        return self

    def received(self) -> int:
        self._done.set()
        count: int = self._queue.get(timeout=60)
        return count

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._process.join(30)


def lifecycles(manager: SessionManager, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        session = manager.create_session("security_audit")
        for step in range(3):
            session.add_event("progress", f"step {step}", {"step": step})
        session.complete("success")
    return count / (time.perf_counter() - began)


class NullExporter(SpanExporter):
    """Takes every batch and drops it: what the SDK and its batch processor cost alone."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lifecycles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_otel_"))
    with Collector() as receiver:
        null, otlp = TracerProvider(), TracerProvider()
        null.add_span_processor(BatchSpanProcessor(NullExporter()))
        otlp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(receiver.endpoint)))
        modes: dict[str, bool | TracerProvider] = {
            "off": False,
            "API only (no SDK): the toolkit's own work": True,
            "SDK + batch processor, exporter that drops": null,
            "SDK + batch processor + OTLP/HTTP exporter": otlp,
        }
        managers = {mode: SessionManager(folder / f"{n}.db", otel=otel)
                    for n, (mode, otel) in enumerate(modes.items())}  # fmt: skip
        try:
            for manager in managers.values():
                lifecycles(manager, 100)  # warm up
            rates: dict[str, list[float]] = {mode: [] for mode in managers}
            order = list(managers)
            for round_ in range(args.rounds):  # interleaved, so load on the machine hits all,
                turn = round_ % len(order)  # in an order turning by one each round
                for mode in order[turn:] + order[:turn]:
                    rates[mode].append(lifecycles(managers[mode], args.lifecycles))
        finally:
            for manager in managers.values():
                manager.close()
        for provider in (null, otlp):
            provider.shutdown()
        print(f"bench_otel: best of {args.rounds} interleaved rounds of {args.lifecycles}")
        print(f"{'live export':<44} {'lifecycles/s':>12} {'vs off (median)':>16} {'µs added':>9}")
        best_off, median_off = max(rates["off"]), statistics.median(rates["off"])
        for mode, values in rates.items():
            best, median = max(values), statistics.median(values)
            added = (1 / best - 1 / best_off) * 1e6
            goal = "  goal >= 0.85" if modes[mode] is otlp else ""
            print(f"{mode:<44} {best:>12,.0f} {best / best_off:>8.2f} ({median / median_off:.2f})"
                  f" {added:>9.0f}{goal}")  # fmt: skip
        print(f"spans received by the collector: {receiver.received():,}")
    store = folder / "replay.db"
    with SessionManager(store) as manager:
        sessions = []
        for number in range(args.sessions):
            record = Session(operation_type="security_audit").to_dict()
            record["events"] += [
                {"timestamp": record["start_time"], "type": "progress",
                 "description": f"step {n}", "data": {"n": number}}
                for n in range(3)
            ]  # fmt: skip
            record["events"].append({"timestamp": record["start_time"], "type": "complete",
                                     "description": "done", "data": {}})  # fmt: skip
            record.update(status="success", end_time=record["start_time"], duration_seconds=0.0)
            sessions.append(Session.from_dict(record))
        manager.store.import_sessions(sessions)
        with Collector() as receiver:
            began = time.perf_counter()
            sent = replay(manager.store, receiver.endpoint)
            took = time.perf_counter() - began
        print(
            f"replay: {sent.spans:,} spans ({sent.sessions:,} sessions, 5 events each) in "
            f"{took:.1f} s = {sent.spans / took:,.0f} spans/s"
        )


if __name__ == "__main__":
    main()
