"""Crash safety: a writer killed with SIGKILL at any moment loses no write it saw returned.

Every write (create_session, add_event, complete_session) commits before it returns, so a
write the writer reported on stdout *after* the call returned must be in the store after
the writer is killed, and the store must still open and read cleanly.

The kill points are drawn from a seeded random generator. The seed is in every assertion
message; set ``M365_CRASH_SEED`` to replay a failing run's kill points (the writer's exact
position at the kill still depends on scheduling).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m365_toolkit.sessions.manager import SessionManager

from .conftest import store_kind

pytestmark = pytest.mark.skipif(os.name == "nt", reason="needs POSIX SIGKILL")

WRITER = textwrap.dedent(
    """
    import sys
    from m365_toolkit.sessions.manager import SessionManager

    def say(line):
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    manager = SessionManager(sys.argv[1])
    tag, events_per_session = sys.argv[2], int(sys.argv[3])
    say("READY")
    n = 0
    while True:
        n += 1
        session = manager.create_session("crash_test", metadata={"tag": tag, "n": n})
        say(f"S {session.session_id} {session.events[0].seq}")
        for i in range(events_per_session):
            description = f"{tag}-{n}-{i}"
            event = session.add_event("step", description, {"i": i})
            say(f"E {session.session_id} {event.seq} {description}")
        manager.complete_session(session.session_id)
        say(f"C {session.session_id} {session.events[-1].seq}")
    """
)

HOLDER = textwrap.dedent(
    """
    import sys
    from m365_toolkit.sessions.manager import SessionManager

    manager = SessionManager(sys.argv[1])
    session = manager.create_session("held_open")
    sys.stdout.write(session.session_id + "\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # hold the session open until the parent says otherwise
    manager.complete_session(session.session_id)
    manager.close()
    """
)


@pytest.fixture
def seed() -> int:
    explicit = os.environ.get("M365_CRASH_SEED")
    return int(explicit) if explicit else random.SystemRandom().randrange(2**32)


@dataclass
class Reported:
    """What writers reported as committed, across all rounds."""

    started: dict[str, int] = field(default_factory=dict)  # session id -> seq of 'start'
    events: dict[str, dict[int, str]] = field(default_factory=dict)  # id -> seq -> description
    completed: dict[str, int] = field(default_factory=dict)  # session id -> seq of 'complete'

    def take(self, line: str) -> None:
        kind, session_id, seq, *rest = line.split(" ", 3)
        if kind == "S":
            self.started[session_id] = int(seq)
        elif kind == "E":
            self.events.setdefault(session_id, {})[int(seq)] = rest[0]
        elif kind == "C":
            self.completed[session_id] = int(seq)
        else:
            raise AssertionError(f"unexpected writer output {line!r}")


def _script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return path


def _start(script: Path, *args: str, stdin: int = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after(writer: subprocess.Popen[str], lines: int, context: str) -> list[str]:
    """Read ``lines`` reports, SIGKILL the writer, and return every complete report line."""
    assert writer.stdout is not None and writer.stderr is not None
    ready = writer.stdout.readline()
    if ready != "READY\n":
        writer.kill()
        writer.wait()
        raise AssertionError(f"{context}: writer did not start: {writer.stderr.read()}")
    seen: list[str] = []
    while len(seen) < lines:
        line = writer.stdout.readline()
        if not line:
            break  # the writer died on its own; the return code check below reports it
        seen.append(line)
    os.kill(writer.pid, signal.SIGKILL)
    # Reports already in the pipe were also written after their call returned.
    seen.extend(writer.stdout.read().splitlines(keepends=True))
    stderr = writer.stderr.read()
    writer.stdout.close()
    writer.stderr.close()
    returncode = writer.wait()
    assert returncode == -signal.SIGKILL, (
        f"{context}: writer exited with {returncode} before it was killed:\n{stderr}"
    )
    # A line cut short (no newline) was not fully reported; ignore it.
    return [line.rstrip("\n") for line in seen if line.endswith("\n")]


def _check_store(store_path: Path | str, reported: Reported, context: str) -> None:
    kind = store_kind(store_path)
    if kind == "sqlite":
        with sqlite3.connect(store_path) as conn:
            (integrity,) = conn.execute("PRAGMA integrity_check").fetchone()
        conn.close()
        assert integrity == "ok", f"{context}: integrity_check says {integrity}"
    elif kind == "json":
        json.loads(Path(store_path).read_text(encoding="utf-8"))  # whole, valid JSON
    # PostgreSQL rolls back the transaction of a killed client: nothing to check on disk.

    with SessionManager(store_path) as manager:
        history = manager.get_session_history(days=None)
        stats = manager.get_statistics(days=None)
    stored = {record["session_id"]: record for record in history}
    assert stats["total_sessions"] == len(stored), context

    missing = sorted(set(reported.started) - set(stored))
    assert not missing, f"{context}: reported sessions missing from the store: {missing[:5]}"
    for session_id, start_seq in reported.started.items():
        record = stored[session_id]
        events = {event["seq"]: event for event in record["events"]}
        assert events.get(start_seq, {}).get("type") == "start", (
            f"{context}: session {session_id} lost its start event {start_seq}: {record}"
        )
        for seq, description in reported.events.get(session_id, {}).items():
            event = events.get(seq)
            assert event is not None and event["description"] == description, (
                f"{context}: session {session_id} lost event {seq} {description!r}: {record}"
            )
        if session_id in reported.completed:
            seq = reported.completed[session_id]
            assert record["status"] == "success", f"{context}: {session_id} is {record}"
            assert events.get(seq, {}).get("type") == "complete", (
                f"{context}: session {session_id} lost its complete event {seq}: {record}"
            )
            assert record["end_time"] is not None, context
    seqs = [event["seq"] for record in history for event in record["events"]]
    assert len(seqs) == len(set(seqs)), f"{context}: duplicate seq numbers in the store"


@pytest.mark.parametrize("rounds", [25])
def test_every_write_reported_before_a_sigkill_is_in_the_store_after_it(
    store_path: Path | str, tmp_path: Path, seed: int, rounds: int
) -> None:
    rng = random.Random(seed)
    # The JSON store rewrites the whole file per write; fewer writes keep the test fast.
    max_lines = 40 if store_kind(store_path) == "json" else 200
    writer_script = _script(tmp_path, "writer.py", WRITER)
    reported = Reported()
    total_lines = 0
    for round_no in range(rounds):
        lines = rng.randint(1, max_lines)
        events_per_session = rng.randint(0, 3)
        context = (
            f"seed={seed} (rerun with M365_CRASH_SEED={seed}), round {round_no}, kill after "
            f"{lines} lines, {events_per_session} events per session, "
            f"{store_kind(store_path)} store"
        )
        writer = _start(writer_script, str(store_path), f"r{round_no}", str(events_per_session))
        for line in _kill_after(writer, lines, context):
            reported.take(line)
            total_lines += 1
        _check_store(store_path, reported, context)
    assert total_lines >= rounds, f"seed={seed}: the writers reported too little"
    assert reported.completed, f"seed={seed}: no writer got as far as completing a session"


def test_a_session_of_a_killed_process_is_reaped_as_error_and_one_of_a_live_process_is_not(
    store_path: Path | str, tmp_path: Path
) -> None:
    holder_script = _script(tmp_path, "holder.py", HOLDER)
    doomed = _start(holder_script, str(store_path), stdin=subprocess.PIPE)
    alive = _start(holder_script, str(store_path), stdin=subprocess.PIPE)
    try:
        assert doomed.stdout is not None and alive.stdout is not None
        doomed_id = doomed.stdout.readline().strip()
        alive_id = alive.stdout.readline().strip()
        assert doomed_id and alive_id, "a holder process failed to start its session"

        os.kill(doomed.pid, signal.SIGKILL)
        assert doomed.wait() == -signal.SIGKILL  # waited for, so no zombie keeps the pid

        with SessionManager(store_path) as manager:
            own = manager.create_session("this_process")  # alive: the test itself
            stale = manager.find_stale()
            assert [record["session_id"] for record in stale] == [doomed_id]
            assert stale[0]["pid"] == doomed.pid
            assert stale[0]["host"] == socket.gethostname()

            assert manager.reap_stale() == [doomed_id]
            assert manager.reap_stale() == []  # already completed: nothing left to reap
            assert manager.find_stale() == []

            reaped = manager.get_session(doomed_id)
            assert reaped is not None
            assert reaped.status == "error"
            assert reaped.end_time is not None
            assert [event.type for event in reaped.events] == ["start", "error", "complete"]
            error = reaped.events[1]
            assert str(doomed.pid) in error.description
            assert socket.gethostname() in error.description
            assert error.data == {"pid": doomed.pid, "host": socket.gethostname()}

            live = manager.get_session(alive_id)
            assert live is not None and live.status == "active"
            assert live.pid == alive.pid
            mine = manager.get_session(own.session_id)
            assert mine is not None and mine.status == "active"
            manager.complete_session(own.session_id)

        # The live process can still finish its own session normally.
        assert alive.stdin is not None
        alive.stdin.write("done\n")
        alive.stdin.close()
        assert alive.wait() == 0, alive.stderr.read() if alive.stderr else ""
        with SessionManager(store_path) as manager:
            finished = manager.get_session(alive_id)
            assert finished is not None and finished.status == "success"
            assert manager.find_stale() == []
    finally:
        for process in (doomed, alive):
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
