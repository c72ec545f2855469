"""Concurrency: many processes and threads writing one store lose and duplicate nothing."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from m365_toolkit.errors import InvalidTransition
from m365_toolkit.sessions.manager import SessionManager
from m365_toolkit.store import open_store

from .conftest import store_kind

PROCESSES = 4
LIFECYCLES = 200
THREADS = 8
THREAD_LIFECYCLES = 50
# The JSON store rewrites its whole file per write (its docstring says so): a quarter of the
# lifecycles still races every writer on every write and keeps its tests quadratic-cheap.
JSON_SHARE = 4

# Each worker waits on stdin for the go signal, so all of them start writing together.
WORKER = textwrap.dedent(
    """
    import json
    import sys
    from m365_toolkit.sessions.manager import SessionManager

    store, tag, lifecycles, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    print("READY", flush=True)
    if sys.stdin.readline() != "GO\\n":
        sys.exit("no go signal")
    done = []
    with SessionManager(store) as manager:
        for n in range(lifecycles):
            session = manager.create_session("concurrency_test", metadata={"tag": tag, "n": n})
            for i in range(steps):
                session.add_event("step", f"{tag}-{n}-{i}")
            manager.complete_session(session.session_id)
            done.append([session.session_id, [event.seq for event in session.events]])
        active = len(manager.active_sessions)
    print(json.dumps({"done": done, "active": active}), flush=True)
    """
)

# Looks a session up by id in a fresh manager and completes it.
COMPLETER = textwrap.dedent(
    """
    import json
    import sys
    from m365_toolkit.sessions.manager import SessionManager

    with SessionManager(sys.argv[1]) as manager:
        session = manager.get_session(sys.argv[2])
        before = None if session is None else session.to_dict()
        manager.complete_session(sys.argv[2], "cancelled")
        after = manager.get_session(sys.argv[2]).to_dict()
    print(json.dumps({"before": before, "after": after}))
    """
)


def _check_counts(
    store_path: Path | str, expected_sessions: int, steps: int
) -> list[dict[str, Any]]:
    """Check the store holds exactly ``expected_sessions`` finished lifecycles; return them."""
    with SessionManager(store_path) as manager:
        history = manager.get_session_history(days=None)
        stats = manager.get_statistics(days=None)
    per_session = steps + 2  # start, the steps, complete
    assert len(history) == expected_sessions
    assert len({record["session_id"] for record in history}) == expected_sessions
    assert stats["total_sessions"] == expected_sessions
    assert stats["by_status"] == {"success": expected_sessions}
    assert stats["active_sessions"] == 0
    assert {record["status"] for record in history} == {"success"}
    events = [event for record in history for event in record["events"]]
    assert len(events) == expected_sessions * per_session
    seqs = [event["seq"] for event in events]
    assert len(set(seqs)) == len(seqs), "seq numbers are not unique"
    for record in history:
        types = [event["type"] for event in record["events"]]
        assert types == ["start", *["step"] * steps, "complete"], record
        own = [event["seq"] for event in record["events"]]
        assert own == sorted(own), f"events out of seq order: {record}"
        assert record["end_time"] is not None and record["duration_seconds"] is not None
    return history


def test_processes_started_together_record_every_lifecycle_exactly_once(
    store_path: Path | str, tmp_path: Path
) -> None:
    # The JSON store rewrites the whole file per write: one step keeps it fast.
    json_store = store_kind(store_path) == "json"
    steps = 1 if json_store else 2
    lifecycles = LIFECYCLES // JSON_SHARE if json_store else LIFECYCLES
    # Created beforehand: racing to create a store is the subject of another test.
    SessionManager(store_path).close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(store_path), f"w{n}", str(lifecycles), str(steps)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    results = []
    try:
        for worker in workers:  # barrier: every worker is up before any of them writes
            assert worker.stdout is not None
            assert worker.stdout.readline() == "READY\n"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("GO\n")
            worker.stdin.flush()
        for worker in workers:
            out, err = worker.communicate()
            assert worker.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    history = _check_counts(store_path, PROCESSES * lifecycles, steps)
    assert all(result["active"] == 0 for result in results)
    # Every seq a worker was handed back is the one the store holds for that event.
    reported = {session_id: seqs for r in results for session_id, seqs in r["done"]}
    stored = {r["session_id"]: [e["seq"] for e in r["events"]] for r in history}
    assert reported == stored


def test_threads_sharing_one_manager_record_every_lifecycle_exactly_once(
    store_path: Path | str,
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    json_store = store_kind(store_path) == "json"
    lifecycles = THREAD_LIFECYCLES // JSON_SHARE if json_store else THREAD_LIFECYCLES
    with SessionManager(store_path) as manager:

        def work(tag: str) -> None:
            try:
                barrier.wait()
                for n in range(lifecycles):
                    session = manager.create_session("thread_test", metadata={"n": n})
                    session.add_event("step", f"{tag}-{n}")
                    manager.complete_session(session.session_id)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert manager.active_sessions == {}
    _check_counts(store_path, THREADS * lifecycles, 1)


def test_a_session_started_in_one_process_is_found_and_completed_by_another(
    store_path: Path | str, tmp_path: Path
) -> None:
    script = tmp_path / "completer.py"
    script.write_text(COMPLETER, encoding="utf-8")
    with SessionManager(store_path) as manager:
        session = manager.create_session("cross_process", metadata={"ticket": 7})
        session.add_event("step", "before the hand-over")

        done = subprocess.run(
            [sys.executable, str(script), str(store_path), session.session_id],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        before, after = seen["before"], seen["after"]
        assert before is not None, "the second process did not find the session"
        assert before["status"] == "active"
        assert before["metadata"] == {"ticket": 7}
        assert [e["type"] for e in before["events"]] == ["start", "step"]
        assert [e["seq"] for e in before["events"]] == [e.seq for e in session.events]
        assert after["status"] == "cancelled"
        assert [e["type"] for e in after["events"]] == ["start", "step", "complete"]

        stored = SessionManager(store_path)
        try:
            fresh = stored.get_session(session.session_id)
        finally:
            stored.close()
        assert fresh is not None and fresh.status == "cancelled"
        assert fresh.end_time is not None

        # This process's copy is stale; the store refuses to change a finished session.
        with pytest.raises(InvalidTransition):
            session.add_event("step", "after the hand-over")
        assert session.status == "cancelled"
        assert session.session_id not in manager.active_sessions
        with pytest.raises(InvalidTransition):
            manager.complete_session(session.session_id)
        assert manager.get_session(session.session_id).status == "cancelled"  # type: ignore[union-attr]


def _open_new_stores(
    barrier: Any, folder: str, rounds: int, failures: Any
) -> None:  # runs in a spawned process
    errors = []
    for round_no in range(rounds):
        barrier.wait()
        try:
            open_store(os.path.join(folder, f"round{round_no}.db")).close()
        except Exception as exc:
            errors.append(
                f"round {round_no}: {type(exc).__name__}: {exc} (cause: {exc.__cause__!r})"
            )
    failures.put(errors)


def test_processes_opening_a_new_sqlite_store_at_the_same_moment_all_succeed(
    tmp_path: Path,
) -> None:
    """Several programs started at once on a store that does not exist yet all get to use it."""
    rounds = 400  # the race is narrow: enough rounds to lose it almost surely while it exists
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    failures = context.Queue()
    openers = [
        context.Process(target=_open_new_stores, args=(barrier, str(tmp_path), rounds, failures))
        for _ in range(PROCESSES)
    ]
    for opener in openers:
        opener.start()
    errors = [error for _ in openers for error in failures.get(timeout=120)]
    for opener in openers:
        opener.join()
        assert opener.exitcode == 0
    failures.close()
    failures.join_thread()
    kinds: dict[str, str] = {}
    for error in errors:
        kinds.setdefault(error.split(":", 2)[1].strip(), error)
    assert errors == [], (
        f"{len(errors)} of {PROCESSES * rounds} opens of a new store failed; one of each kind:\n"
        + "\n".join(kinds.values())
    )
    for round_no in range(rounds):
        with SessionManager(tmp_path / f"round{round_no}.db") as manager:
            assert manager.get_session_history(days=None) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_writes_on_a_connection_of_its_own(tmp_path: Path):
    # SQLite forbids carrying a connection across fork(): the child of a process that has
    # written must open its own, then both see every session.
    with SessionManager(tmp_path / "s.db") as manager:
        manager.create_session("security_audit")
        parent = manager.store.dialect.connect()
        pid = os.fork()
        if pid == 0:  # the child: exit code 0 only if it wrote on a new connection
            code = 1
            try:
                with manager.session("child_operation"):
                    pass
                code = 0 if manager.store.dialect.connect() is not parent else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert manager.store.dialect.connect() is parent
        found = manager.get_session_history(days=None)
    assert sorted(s["operation_type"] for s in found) == ["child_operation", "security_audit"]
