"""Reaping completes a session only when its process provably ended: same host, same boot,
same PID namespace, and its pid gone or reused by a process that started later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from m365_toolkit import Session, SessionManager
from m365_toolkit._util import system

pytestmark = pytest.mark.skipif(
    system.process_identity() is None, reason="needs /proc to tell processes apart"
)

HOLD = """
import sys, time
from m365_toolkit import SessionManager
manager = SessionManager(sys.argv[1])
session = manager.create_session("security_audit")
print(session.session_id, flush=True)
time.sleep(120)
"""


def unused_pid() -> int:
    pid = 4_000_000
    while system.process_alive(pid):
        pid -= 1
    return pid


def planted(manager: SessionManager, **fields) -> str:
    """A running session as another process or host would have stored it."""
    record = Session(operation_type="security_audit", clock=manager.clock).to_dict()
    record.update(fields)
    manager.store.import_sessions([Session.from_dict(record)])
    return record["session_id"]


def holder(store: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_a_session_of_a_process_killed_with_sigkill_is_reaped(tmp_path):
    store = tmp_path / "sessions.db"
    process, session_id = holder(store)
    with SessionManager(store) as manager:
        assert manager.find_stale() == []  # it still runs
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        assert manager.reap_stale() == [session_id]
        assert manager.get_session(session_id).status == "error"


def test_a_running_session_is_never_reaped_even_when_old(tmp_path, clock):
    store = tmp_path / "sessions.db"
    process, session_id = holder(store)
    try:
        with SessionManager(store, clock=clock) as manager:
            clock.advance(days=30)
            assert manager.reap_stale(older_than=timedelta(hours=1)) == []
            assert manager.get_session(session_id).status == "active"
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_a_session_from_another_pid_namespace_is_left_alone_unless_old(tmp_path, clock):
    with SessionManager(tmp_path / "sessions.db", clock=clock) as manager:
        identity = system.process_identity()
        container = {**identity, "pid_namespace": "pid:[1]"}
        session_id = planted(manager, pid=unused_pid(), process=container)
        assert manager.find_stale() == []
        clock.advance(hours=2)
        assert manager.reap_stale(older_than=timedelta(hours=1)) == [session_id]


def test_a_session_whose_pid_was_reused_is_reaped(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        with SessionManager(tmp_path / "sessions.db") as manager:
            identity = {**system.process_identity(), "started": 1}  # not the sleeper's start
            session_id = planted(manager, pid=sleeper.pid, process=identity)
            assert [r["session_id"] for r in manager.find_stale()] == [session_id]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_session_of_a_release_that_recorded_no_identity_needs_older_than(tmp_path, clock):
    with SessionManager(tmp_path / "sessions.db", clock=clock) as manager:
        session_id = planted(manager, pid=unused_pid(), process=None)
        assert manager.find_stale() == []
        clock.advance(days=2)
        assert manager.reap_stale(older_than=timedelta(days=1)) == [session_id]


def test_a_new_session_records_what_tells_its_process_apart(tmp_path):
    with SessionManager(tmp_path / "sessions.db") as manager:
        session = manager.create_session("security_audit")
        stored = manager.store.get(session.session_id)
    assert stored["process"]["boot"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert stored["process"]["pid_namespace"] == os.readlink("/proc/self/ns/pid")
    assert stored["process"]["started"] == system.process_started(os.getpid())
