"""The chain travels: a migrated copy names its source's head and is held against the
source (``store verify --source``); ``sessions export --format chain`` writes a file that
verifies offline (``store verify FILE``), pruned records and checkpoints included."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from m365_toolkit.cli import cli
from m365_toolkit.sessions.model import Status
from m365_toolkit.store import checkpoint as cp
from m365_toolkit.store import open_store
from tests.integrity.tamper import tamper_for
from tests.store.test_chain import a_trail
from tests.store.test_contract import T0, complete, cost, new_session


def verify(*args: str):
    return CliRunner().invoke(cli, ["store", "verify", *args])


def test_a_migrated_copy_names_the_source_head_and_is_held_against_it(location, tmp_path):
    source = tmp_path / "source.db"
    with open_store(source) as store:
        a_trail(store, tamper_for(store, str(source)))
        head = store.seal().head
    target = location if location != "memory:" else str(tmp_path / "copy.json")
    migrated = CliRunner().invoke(cli, ["store", "migrate", "--from", str(source), "--to",
                                        target, "--json"])  # fmt: skip
    assert migrated.exit_code == 0, migrated.output
    with open_store(target) as copy:
        result = copy.verify()
    assert result.intact, result.breaks
    ((pos, record),) = result.migrations
    assert (record["source_size"], record["source_head"]) == (8, head)
    assert pos == result.size - 1
    held = verify("--store", target, "--source", str(source))
    assert held.exit_code == 0, held.output
    # The source changed behind its back after the copy: the copy no longer matches it.
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("UPDATE events SET description = 'rewritten' WHERE seq = 2")
    conn.close()
    broken = verify("--store", target, "--source", str(source), "--json")
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    assert [b["kind"] for b in report["breaks"]] == ["CHECKPOINT-INVALID"]
    assert "the source does not verify" in report["breaks"][0]["detail"]
    # Records of the source that never reached the copy (sealed in the source before the
    # anchor, deleted from the copy along with its whole chain, which was then resealed).
    if not target.startswith("postgres") and not target.endswith(".json"):
        conn = sqlite3.connect(source, isolation_level=None)
        conn.execute("UPDATE events SET description = 'first step' WHERE seq = 2")
        conn.close()
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("DELETE FROM events WHERE description = 'second step'")
        conn.execute("UPDATE chain SET leaf = zeroblob(32) WHERE kind <> 'migrate'")
        conn.close()
        gone = json.loads(verify("--store", target, "--source", str(source), "--json").output)
        assert any("source's position 3" in b["detail"] for b in gone["breaks"])
    other = tmp_path / "other.db"
    with open_store(other) as store:
        store.create(new_session())
    refused = verify("--store", target, "--source", str(other))
    assert refused.exit_code == 1 and "No migration record" in refused.output


def test_an_export_of_a_pruned_checkpointed_store_verifies_offline(location, tmp_path):
    key = tmp_path / "k"
    public = cp.generate_key(key)
    with open_store(location) as store:
        old = new_session(T0 - timedelta(days=400))
        store.create(old)
        store.costs.add(cost(old.session_id, T0 - timedelta(days=400)))
        store.finish(old.session_id, Status.SUCCESS, T0 - timedelta(days=400), [complete(T0)])
        a_trail(store, tamper_for(store, location))
        cp.checkpoint(store, key)
        store.prune(T0 - timedelta(days=30))
        cp.checkpoint(store, key)
        if location == "memory:":
            from m365_toolkit.store.chain_file import export_chain

            export_chain(store, tmp_path / "chain.jsonl")
    out = tmp_path / "chain.jsonl"
    if location != "memory:":
        exported = CliRunner().invoke(cli, ["sessions", "export", "--store", location,
                                            "--format", "chain", "-o", str(out)])  # fmt: skip
        assert exported.exit_code == 0, exported.output
        assert f"store verify {out}" in exported.output
    result = verify(str(out), "--public-key", str(public), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["pruned"] == 3 and report["checkpoints"] == 2 and report["keyed"]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["kind"] for line in lines[1:-1]][-3:] == ["checkpoint", "prune", "checkpoint"]
    assert all("record" not in line for line in lines[1:4])  # pruned: leaves only
    # A forged signature in the file is caught with the key, offline.
    lines[-2]["record"]["signature"] = lines[-2]["record"]["signature"][::-1]
    out.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert verify(str(out), "--public-key", str(public)).exit_code == 1


def test_export_chain_needs_a_file(tmp_path: Path):
    result = CliRunner().invoke(cli, ["sessions", "export", "--store", str(tmp_path / "s.db"),
                                      "--format", "chain"])  # fmt: skip
    assert result.exit_code == 2 and "give -o" in result.output
