"""Checkpoints are records of the chain: each links to the one before it and states the chain
before it, and verify checks every one of them; with a signing key configured, stores take
them on their own (every 1,000 records, at least every 15 minutes while writing, at prune)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner

from m365_toolkit import settings
from m365_toolkit.cli import cli
from m365_toolkit.sessions.model import Event, Session, Status
from m365_toolkit.store import Store, open_store
from m365_toolkit.store import checkpoint as cp
from m365_toolkit.store._canonical import canonical
from m365_toolkit.store._notes import due
from m365_toolkit.store.chain import genesis, leaf_hash, link_hash
from tests.integrity.tamper import SQLTamper, tamper_for
from tests.store.test_chain import a_trail
from tests.store.test_contract import T0, event, new_session


def rehash(store: Store, tamper: SQLTamper, *, forge_checkpoints: bool) -> None:
    """What someone with write access and no key does after an edit: recompute every leaf
    and link from the records as they now are (and, with ``forge_checkpoints``, make each
    chained checkpoint state the recomputed chain, its signature left as it was)."""
    seen: list[tuple[Any, Any]] = []
    store.verify(sink=lambda row, record: seen.append((row, record)))
    link = genesis(store.verify().store_id)
    for row, record in seen:
        text = row.outcome
        if record is None:
            leaf = row.leaf
        else:
            if row.kind == "checkpoint" and forge_checkpoints:
                record = {**record, "head": link.hex()}
                text = canonical(record).decode("utf-8")
            leaf = leaf_hash(record)
        link = link_hash(link, leaf)
        tamper.run("UPDATE chain SET leaf = ?, link = ?, outcome = ? WHERE pos = ?",
                   (leaf, link, text, row.pos))  # fmt: skip


def test_every_chained_checkpoint_links_to_the_previous_and_is_checked(sql_location, tmp_path):
    key = tmp_path / "k"
    public = cp.generate_key(key).read_bytes()
    with open_store(sql_location) as store:
        tamper = tamper_for(store, sql_location)
        assert isinstance(tamper, SQLTamper)
        a_trail(store, tamper)
        first = cp.checkpoint(store, key)
        store.append_event(_active(store), event(T0 + timedelta(minutes=1)))
        second = cp.checkpoint(store, key)
        result = cp.verify_with(store, [], public)
        assert result.intact and result.keyed, result.breaks
        assert [pos for pos, _ in result.checkpoints] == [first.size, second.size] == [8, 10]
        assert [r["prev"] for _, r in result.checkpoints] == [None, 8]
        assert result.last_checkpoint == (10, second.time)
        # An edit, every hash recomputed: the first checkpoint no longer states the chain.
        tamper.edit_description(2, "nothing happened")
        rehash(store, tamper, forge_checkpoints=False)
        assert store.verify().counts == {"CHECKPOINT-INVALID": 2}
        first_break = store.verify().first
        assert first_break is not None and first_break.pos == 8
        assert "head is" in first_break.detail
        # The checkpoints rewritten to state the new chain: only the key can tell.
        rehash(store, tamper, forge_checkpoints=True)
        assert store.verify().intact  # unkeyed: it cannot tell
        keyed = cp.verify_with(store, [], public)
        assert keyed.counts == {"CHECKPOINT-INVALID": 2}
        assert keyed.first is not None and keyed.first.pos == 8
        assert "does not verify" in keyed.first.detail


def _active(store: Store) -> str:
    from m365_toolkit.sessions.query import SessionQuery

    return next(s["session_id"] for s in store.history(SessionQuery()) if s["status"] == "active")


def test_a_configured_key_checkpoints_every_thousand_records_and_at_prune(
    location, tmp_path, monkeypatch
):
    key = tmp_path / "k"
    public = cp.generate_key(key).read_bytes()
    monkeypatch.setenv(settings.CHECKPOINT_KEY, str(key))
    with open_store(location) as store:
        old = new_session(T0 - timedelta(days=400))
        store.create(old)
        store.finish(old.session_id, Status.SUCCESS, T0 - timedelta(days=400), [])
        store.seal()  # the first seal with a key: a checkpoint at once
        for batch in range(2):  # two seals of 600 records: the second one is due
            sessions = []
            for i in range(100):
                s = Session.from_dict({**new_session(T0 + timedelta(minutes=i)).to_dict(),
                                       "session_id": f"s{batch}-{i}"})  # fmt: skip
                for n in range(5):
                    s.events.append(Event(T0, "progress", f"step {n}"))
                sessions.append(s)
            store.import_sessions(sessions)
            store.seal()
        store.prune(T0 - timedelta(days=30))
        result = cp.verify_with(store, [], public)
    assert result.intact and result.keyed, result.breaks
    kinds = [pos for pos, _ in result.checkpoints]
    # After the first 2 records; after 1,200 more (the first 600 were not enough); after the
    # prune record.
    assert kinds == [2, 1203, result.size - 1]
    assert {r["algorithm"] for _, r in result.checkpoints} == {"ed25519"}


def test_the_cadence_is_a_thousand_records_or_a_quarter_hour():
    now = T0 + timedelta(hours=1)
    recent, old = (T0 + timedelta(minutes=50)).isoformat(), T0.isoformat()
    assert due(1, None, now) and not due(0, None, now)
    assert not due(500, (100, recent), now) and due(1101, (100, recent), now)
    assert due(102, (100, old), now) and not due(101, (100, old), now)


def test_store_checkpoint_chains_a_record_and_verify_reports_it(tmp_path):
    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
    runner = CliRunner()
    taken = runner.invoke(cli, ["store", "checkpoint", "--store", str(path)])
    assert taken.exit_code == 0, taken.output
    result = runner.invoke(cli, ["store", "verify", "--store", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["checkpoints"] == 1 and report["last_checkpoint"]["pos"] == 8
    assert report["size"] == 9


def test_verify_with_the_key_alone_is_keyed_by_the_chained_checkpoints(tmp_path):
    path = tmp_path / "sessions.db"
    key = tmp_path / "k"
    public = cp.generate_key(key)
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
        cp.checkpoint(store, key)
    result = CliRunner().invoke(cli, ["store", "verify", "--store", str(path), "--public-key",
                                      str(public)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Checkpoints in the chain: 1, the newest at position 8" in result.output
    assert "Keyed: signed checkpoints vouch for positions 0..7" in result.output
