"""What OpenTelemetry export costs: lifecycles per second with live export on vs off, in the
same run, and replay throughput over a store of stored sessions (spans per second).

Live export two ways, each to a receiver on loopback in a process of its own:

- the follower (``sessions export --format otlp --follow``): a process of its own tails the
  store and runs the SDK and the OTLP/HTTP exporter there; the writer does nothing more;
- in the writer's process: the SDK + batch processor + OTLP/HTTP exporter on the store's
  append path. Two more modes tell its cost apart: the API alone (no SDK: what the toolkit
  itself does per record) and the SDK with its batch processor and an exporter that drops
  every batch (no encoding).

After the rounds, the follower's lag: how long after the last write it has sent everything.

    python bench/bench_otel.py [--lifecycles 2000] [--sessions 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from m365_toolkit import Session, SessionManager  # noqa: E402
from m365_toolkit.exporters.otlp_follow import Cursor, follow  # noqa: E402
from m365_toolkit.exporters.otlp_replay import replay  # noqa: E402
from m365_toolkit.store.sql_feed import Feed  # noqa: E402
from tests.otlp_receiver import Receiver  # noqa: E402


def _collector(endpoints: multiprocessing.Queue, done: multiprocessing.Event, count) -> None:
    """A receiver in a process of its own, as a real collector is: its decoding must not take
    the writers' GIL."""
    with Receiver() as receiver:
        endpoints.put(receiver.endpoint)
        while not done.wait(0.01):
            count.value = len(receiver.spans)


class Collector:
    def __enter__(self) -> Collector:
        self._queue: multiprocessing.Queue = multiprocessing.Queue()
        self._done = multiprocessing.Event()
        self._count = multiprocessing.Value("q", 0)
        self._process = multiprocessing.Process(
            target=_collector, args=(self._queue, self._done, self._count)
        )
        self._process.start()
        self.endpoint: str = self._queue.get(timeout=30)
        return self

    def received(self) -> int:
        return int(self._count.value)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._process.join(30)


FOLLOWER = "follower process (SDK + OTLP/HTTP there)"
IN_PROCESS = "in process, SDK + batch + OTLP/HTTP exporter"


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
    with Collector() as receiver, Collector() as followed:
        null, otlp = TracerProvider(), TracerProvider()
        null.add_span_processor(BatchSpanProcessor(NullExporter()))
        otlp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(receiver.endpoint)))
        modes: dict[str, bool | TracerProvider] = {
            "off": False,
            FOLLOWER: False,
            "in process, API only (no SDK)": True,
            "in process, SDK + batch, exporter that drops": null,
            IN_PROCESS: otlp,
        }
        managers = {mode: SessionManager(folder / f"{n}.db", otel=otel)
                    for n, (mode, otel) in enumerate(modes.items())}  # fmt: skip
        follower = subprocess.Popen([
            sys.executable, "-m", "m365_toolkit", "sessions", "export", "--format", "otlp",
            "--store", str(managers[FOLLOWER].store.location), "--endpoint", followed.endpoint,
            "--follow", "--cursor", str(folder / "cursor.json")],
            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            while not (folder / "cursor.json").exists():  # it starts at the store's end
                time.sleep(0.01)
            for manager in managers.values():
                lifecycles(manager, 100)  # warm up
            rates: dict[str, list[float]] = {mode: [] for mode in managers}
            order = list(managers)
            for round_ in range(args.rounds):  # interleaved, so load on the machine hits all,
                turn = round_ % len(order)  # in an order turning by one each round
                for mode in order[turn:] + order[:turn]:
                    rates[mode].append(lifecycles(managers[mode], args.lifecycles))
            written, ended = 100 + args.rounds * args.lifecycles, time.perf_counter()
            while followed.received() < written and time.perf_counter() - ended < 120:
                time.sleep(0.01)
            backlog = time.perf_counter() - ended  # what was left to send after the rounds
            lags = []
            for _ in range(5):  # then one session at a time: how soon it is sent
                lifecycles(managers[FOLLOWER], 1)
                written, closed = written + 1, time.perf_counter()
                while followed.received() < written and time.perf_counter() - closed < 30:
                    time.sleep(0.001)
                lags.append(time.perf_counter() - closed)
        finally:
            follower.terminate()
            follower.wait(30)
            for manager in managers.values():
                manager.close()
        for provider in (null, otlp):
            provider.shutdown()
        print(f"bench_otel: best of {args.rounds} interleaved rounds of {args.lifecycles}")
        print(f"{'live export':<46} {'lifecycles/s':>12} {'vs off (median)':>16} {'µs added':>9}")
        best_off, median_off = max(rates["off"]), statistics.median(rates["off"])
        for mode, values in rates.items():
            best, median = max(values), statistics.median(values)
            added = (1 / best - 1 / best_off) * 1e6
            goal = "  goal >= 0.85" if mode in (FOLLOWER, IN_PROCESS) else ""
            print(f"{mode:<46} {best:>12,.0f} {best / best_off:>8.2f} ({median / median_off:.2f})"
                  f" {added:>9.0f}{goal}")  # fmt: skip
        print(f"spans received from the writer's process: {receiver.received():,}")
        lag = statistics.median(lags)
        print(f"follower: {followed.received():,} of {written:,} sessions received, all "
              f"{backlog:.2f} s after the rounds; a session closed alone reached the collector "
              f"{lag:.2f} s later (median of 5; it looks every second)")  # fmt: skip
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
        # The follower catching up on the same sessions, from a cursor at the beginning.
        cursor = folder / "catch-up.json"
        Cursor(cursor, Feed(manager.store).store_id()).save(0)
        stop = threading.Event()
        with Collector() as receiver:
            began = time.perf_counter()
            worker = threading.Thread(
                target=follow, args=(manager.store, receiver.endpoint),
                kwargs={"cursor": cursor, "stop": stop, "poll": 0.01},
            )  # fmt: skip
            worker.start()
            while receiver.received() < sent.sessions and worker.is_alive():
                time.sleep(0.005)
            took = time.perf_counter() - began
            stop.set()
            worker.join()
        print(f"follower catching up on the same store: {receiver.received():,} spans in "
              f"{took:.1f} s = {receiver.received() / took:,.0f} spans/s")  # fmt: skip


if __name__ == "__main__":
    main()
