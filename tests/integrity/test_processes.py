"""Many processes writing one SQLite file or PostgreSQL schema, each sealing as it goes; a
writer killed with SIGKILL: afterwards every record is in the chain exactly once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from m365_toolkit.sessions.model import Status
from m365_toolkit.store import open_store
from tests.store.test_contract import T0, complete, cost, event, new_session

LIFECYCLES = 50
WRITER = """
import sys
from m365_toolkit.sessions.model import Status
from m365_toolkit.store import open_store
from tests.store.test_contract import T0, complete, cost, event, new_session
store = open_store(sys.argv[1])
store.seal_every = None
while True:
    session = new_session()
    store.create(session)
    store.costs.add(cost(session.session_id))
    store.finish(session.session_id, Status.SUCCESS, T0, [complete(T0)])
"""


def lifecycles(location: str, count: int) -> None:
    with open_store(location) as store:
        store.seal_every = 32  # type: ignore[attr-defined]
        for _ in range(count):
            session = new_session()
            store.create(session)
            store.append_event(session.session_id, event(T0))
            store.costs.add(cost(session.session_id))
            store.finish(session.session_id, Status.SUCCESS, T0, [complete(T0)])


def test_four_processes_writing_and_sealing_leave_every_record_chained_once(sql_location):
    open_store(sql_location).close()  # created before the writers race
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=lifecycles, args=(sql_location, LIFECYCLES)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    with open_store(sql_location) as store:
        result = store.verify()
        counts = store.counts()
    assert result.intact, result.breaks
    assert result.size == counts.events + counts.costs == 4 * LIFECYCLES * 4


def test_a_writer_killed_mid_write_leaves_a_chain_that_seals_and_verifies(tmp_path):
    path = tmp_path / "sessions.db"
    open_store(path).close()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env, cwd=root)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open_store(path) as store:
                if store.counts().costs >= 20:
                    break
            time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with open_store(path) as store:
        assert store.seal().sealed > 0  # the killed writer sealed nothing: all is sealed now
        result = store.verify()
        counts = store.counts()
    assert result.intact, result.breaks
    assert result.size == counts.events + counts.costs
