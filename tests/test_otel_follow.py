"""Live export from a follower process (``sessions export --format otlp --follow``): it tails
the store and sends each session when it closes, and each cost record, through the real
OTLP/HTTP exporter to a receiver on loopback that decodes protobuf."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_toolkit import SessionManager
from m365_toolkit.cli import cli
from m365_toolkit.cost_tracker import GPT5CostTracker
from m365_toolkit.errors import ConfigError
from m365_toolkit.exporters.otel import nanoseconds
from m365_toolkit.exporters.otlp_follow import Followed, follow
from m365_toolkit.exporters.otlp_replay import span_id, trace_id

from .otlp_receiver import Receiver, attributes, free_port

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


class Follower:
    """:func:`follow` on a thread of the test, stopped on leaving the block."""

    def __init__(self, location: Path | str, endpoint: str, **options: object) -> None:
        self.stop = threading.Event()
        self.result: Followed | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with SessionManager(location) as manager:
                    self.result = follow(manager.store, endpoint, stop=self.stop, poll=0.05,
                                         timeout=2, **options)  # type: ignore[arg-type]  # fmt: skip
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                self.error = exc

        self._thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive()
        if self.error is not None and exc[0] is None:
            raise self.error


def session_spans(spans) -> dict[str, object]:
    return {attributes(s)["session.id"]: s for s in spans if "session.id" in attributes(s)
            and not s.name.startswith("chat ")}  # fmt: skip


def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_session_is_sent_when_it_closes_with_replays_ids_and_its_own_times(tmp_path, clock):
    store = tmp_path / "sessions.db"
    SessionManager(store).close()
    with Receiver() as receiver, Follower(store, receiver.endpoint):
        time.sleep(0.2)  # the follower starts at the store's present end
        with SessionManager(store, clock=clock) as manager:
            session = manager.create_session("security_audit", metadata={"tenant": "<b>x</b>"})
            clock.advance(seconds=2)
            session.add_event("progress", "control 1.1", {"control": "1.1"})
            GPT5CostTracker(session_id=session.session_id, manager=manager, clock=clock) \
                .track_request("gpt-5", prompt_tokens=1500, completion_tokens=200,
                               cached_tokens=500)  # fmt: skip
            cost_only = receiver.wait_for(1)
            assert [s.name for s in cost_only] == ["chat gpt-5"]  # the session is still open
            time.sleep(0.3)
            assert len(receiver.spans) == 1
            clock.advance(seconds=3)
            session.complete("success")
            spans = receiver.wait_for(2)
            stored = manager.store.get(session.session_id)
    assert len(spans) == 2
    span = session_spans(spans)[session.session_id]
    found = attributes(span)
    assert found["m365_toolkit.status"] == "success"
    assert found["m365_toolkit.metadata"] == '{"tenant": "<b>x</b>"}'
    assert int.from_bytes(span.trace_id, "big") == trace_id(session.session_id)
    assert int.from_bytes(span.span_id, "big") == span_id(session.session_id)
    assert span.start_time_unix_nano == nanoseconds(session.start_time)
    assert span.end_time_unix_nano == nanoseconds(session.end_time)
    assert [e.name for e in span.events] == [e["type"] for e in stored["events"]]
    cost = next(s for s in spans if s.name == "chat gpt-5")
    assert cost.parent_span_id == span.span_id and cost.trace_id == span.trace_id
    assert attributes(cost)["gen_ai.usage.cache_read.input_tokens"] == 500


def test_the_cursor_resumes_where_it_stopped_and_history_comes_first(tmp_path, clock):
    store, cursor = tmp_path / "sessions.db", tmp_path / "cursor.json"
    with SessionManager(store, clock=clock) as manager:
        old = [manager.create_session("security_audit") for _ in range(3)]
        for session in old:
            session.complete("success")
    with Receiver() as receiver:
        with Follower(store, receiver.endpoint, cursor=cursor, since=LONG_AGO):
            wait_until(lambda: len(receiver.spans) == 3)
        assert set(session_spans(receiver.spans)) == {s.session_id for s in old}
        saved = json.loads(cursor.read_text())
        with SessionManager(store) as manager:
            new = manager.create_session("remediation")
            new.complete("error")
        # Started again on its cursor: only what came after, though ``since`` asks for more.
        with Follower(store, receiver.endpoint, cursor=cursor, since=LONG_AGO):
            wait_until(lambda: len(receiver.spans) == 4)
            time.sleep(0.3)
        assert len(receiver.spans) == 4
        assert attributes(receiver.spans[3])["session.id"] == new.session_id
        assert receiver.spans[3].status.code == 2
    assert json.loads(cursor.read_text())["through"] > saved["through"]


def test_a_damaged_or_foreign_cursor_is_reported_and_left_untouched(tmp_path):
    store, other = tmp_path / "a.db", tmp_path / "b.db"
    cursor = tmp_path / "cursor.json"
    for location in (store, other):
        SessionManager(location).close()
    with Receiver() as receiver:
        for text, named in (("{not json", "cannot be read"), ('{"through": "x"}', "damaged")):
            cursor.write_text(text)
            with SessionManager(store) as manager, pytest.raises(ConfigError, match=named) as err:
                follow(manager.store, receiver.endpoint, cursor=cursor, stop=threading.Event())
            assert str(cursor) in str(err.value)
            assert cursor.read_text() == text
        cursor.unlink()
        with Follower(store, receiver.endpoint, cursor=cursor):
            wait_until(cursor.exists)
        saved = cursor.read_text()
        with SessionManager(other) as manager, pytest.raises(ConfigError, match="another store"):
            follow(manager.store, receiver.endpoint, cursor=cursor, stop=threading.Event())
        assert cursor.read_text() == saved


def test_following_a_json_file_store_or_no_endpoint_is_refused_with_what_to_do(tmp_path):
    store = tmp_path / "sessions.json"
    result = CliRunner().invoke(cli, ["sessions", "export", "--store", str(store), "--format",
                                      "otlp", "--endpoint", "http://127.0.0.1:9/v1/traces",
                                      "--follow"])  # fmt: skip
    assert result.exit_code != 0
    assert "SQLite or PostgreSQL" in result.output and "no --follow" in result.output
    result = CliRunner().invoke(cli, ["sessions", "export", "--store", str(store), "--follow"])
    assert result.exit_code == 2 and "--follow and --cursor go with --format otlp" in result.output
    sqlite = tmp_path / "sessions.db"
    result = CliRunner().invoke(cli, ["sessions", "export", "--store", str(sqlite), "--format",
                                      "otlp", "--follow"])  # fmt: skip
    assert result.exit_code != 0 and "Give the OTLP/HTTP endpoint" in result.output
    assert "Following" not in result.output


def test_a_collector_that_is_down_holds_the_cursor_and_gets_everything_once_up(tmp_path):
    store, cursor = tmp_path / "sessions.db", tmp_path / "cursor.json"
    SessionManager(store).close()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/v1/traces"
    with Follower(store, endpoint, cursor=cursor):
        wait_until(cursor.exists)
        start = json.loads(cursor.read_text())["through"]
        with SessionManager(store) as manager:
            for _ in range(5):
                with manager.session("security_audit") as session:
                    session.add_event("progress", "step")
        time.sleep(1.0)  # the follower tries, fails, waits; the cursor does not move
        assert json.loads(cursor.read_text())["through"] == start
        with Receiver(port=port) as receiver:
            spans = receiver.wait_for(5, timeout=30)
            wait_until(lambda: json.loads(cursor.read_text())["through"] > start)
    assert len(session_spans(spans)) == 5


WRITER = """
import sys
from m365_toolkit import SessionManager
with SessionManager(sys.argv[1]) as manager:
    for _ in range(int(sys.argv[2])):
        with manager.session("security_audit") as session:
            session.add_event("progress", "step")
"""


def follower_process(store: Path | str, endpoint: str, cursor: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "m365_toolkit", "sessions", "export", "--store", str(store),
               "--format", "otlp", "--endpoint", endpoint, "--follow", "--cursor", str(cursor),
               "--poll", "0.05", "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_four_writer_processes_and_a_follower_killed_midway_lose_nothing(tmp_path, kind, request):
    if kind == "postgres":
        store: Path | str = request.getfixturevalue("postgres_url")
    else:
        store = tmp_path / "sessions.db"
    SessionManager(store).close()
    cursor = tmp_path / "cursor.json"
    with Receiver() as receiver:
        follower = follower_process(store, receiver.endpoint, cursor)
        wait_until(cursor.exists, timeout=30)
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store), "40"])
                   for _ in range(4)]  # fmt: skip
        wait_until(lambda: len(receiver.spans) >= 20, timeout=60)
        follower.send_signal(signal.SIGKILL)  # mid-way: the writers go on
        follower.communicate(timeout=10)  # (its pipes closed)
        assert follower.returncode == -signal.SIGKILL
        assert [writer.wait(120) for writer in writers] == [0, 0, 0, 0]
        follower = follower_process(store, receiver.endpoint, cursor)
        wait_until(lambda: len(session_spans(receiver.spans)) == 160, timeout=60)
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
        assert follower.returncode == 0, err
    with SessionManager(store) as manager:
        stored = {s["session_id"] for s in manager.get_session_history(days=None, limit=None)}
    counts = Counter(attributes(s)["session.id"] for s in receiver.spans)
    assert set(counts) == stored and len(stored) == 160
    assert max(counts.values()) <= 2  # at most the batch under way when killed, sent again
    assert {len(s.events) for s in receiver.spans} == {3}
    summary = json.loads(out)
    assert summary["through"] == json.loads(cursor.read_text())["through"]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("batch", [1, 3, 2000])
def test_the_feed_gives_each_closed_session_and_cost_once_across_batches(
    new_store, kind, batch, monkeypatch, clock
):
    from m365_toolkit.store import sql_feed

    monkeypatch.setattr(sql_feed, "BATCH", batch)
    location = new_store(kind)
    with SessionManager(location, clock=clock) as manager:
        feed = sql_feed.Feed(manager.store)
        start = feed.high_water()
        open_ = [manager.create_session("security_audit", metadata={"n": n}) for n in range(6)]
        for step, session in enumerate(open_ * 2):  # interleaved timelines
            clock.advance(seconds=1)
            session.add_event("progress", f"step {step}")
            GPT5CostTracker(session_id=session.session_id, manager=manager, clock=clock) \
                .track_request("gpt-5", prompt_tokens=10 + step, completion_tokens=1)  # fmt: skip
        for session in open_[:4][::-1]:  # closed in reverse, two left open
            session.complete("success")
        sessions, costs, after, high = [], [], start, feed.high_water()
        while after < high:
            found = feed.read(after, high)
            assert found.after == after and after < found.through <= high
            sessions += found.sessions
            costs += found.costs
            after = found.through
        stored = {s.session_id: manager.store.get(s.session_id) for s in open_[:4]}
    assert [s["session_id"] for s in sessions] == [s.session_id for s in open_[:4][::-1]]
    assert {s["session_id"]: s for s in sessions} == stored  # whole timelines, as stored
    assert [c["tokens"]["input"] for c in costs] == [10 + step for step in range(12)]


def test_a_hanging_collector_holds_the_cursor_and_stopping_still_ends_the_follower(tmp_path):
    store, cursor = tmp_path / "sessions.db", tmp_path / "cursor.json"
    SessionManager(store).close()
    with Receiver(hang=True) as receiver:
        follower = Follower(store, receiver.endpoint, cursor=cursor)
        with follower:
            wait_until(cursor.exists)
            start = json.loads(cursor.read_text())["through"]
            with SessionManager(store) as manager, manager.session("security_audit"):
                pass
            wait_until(lambda: receiver.requests_seen > 0)
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 10  # the request under way times out (2 s)
    assert follower.result is not None and follower.result.spans == 0
    assert json.loads(cursor.read_text())["through"] == start
    with SessionManager(store) as manager:
        assert manager.store.counts().sessions == 1


def test_a_store_that_cannot_be_read_for_a_while_is_waited_out(
    postgres_url, postgres_server, caplog
):
    name = f"follower-{os.getpid()}-{time.monotonic_ns()}"
    followed = f"{postgres_url}&application_name={name}"
    SessionManager(postgres_url).close()
    admin = postgres_server[1]
    with Receiver() as receiver, Follower(followed, receiver.endpoint) as follower:
        time.sleep(0.3)
        with SessionManager(postgres_url) as manager:
            ended = time.monotonic() + 1.5
            while time.monotonic() < ended:  # the follower's connections cut, again and again
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = %s", (name,))  # fmt: skip
                time.sleep(0.01)
            with manager.session("security_audit") as session:
                session.add_event("progress", "step")
        spans = receiver.wait_for(1, timeout=30)
    assert follower.error is None
    assert "failed; trying again" in caplog.text  # it did fail to read, and went on
    assert list(session_spans(spans)) == [session.session_id]
