"""Checkpoints kept away from the store catch what the chain alone cannot: a dropped tail,
and history rewritten with every hash recomputed; their signatures are checked."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from m365_toolkit.cli import cli
from m365_toolkit.sessions.query import SessionQuery
from m365_toolkit.store import checkpoint as cp
from m365_toolkit.store import open_store
from tests.integrity.tamper import tamper_for
from tests.store.test_chain import a_trail
from tests.store.test_contract import T0, event


@pytest.fixture(params=["ed25519", "hmac"])
def keys(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """The signing key file and the file an auditor verifies with."""
    private = tmp_path / "keys" / "checkpoint.key"
    public = cp.generate_key(private, shared=request.param == "hmac")
    assert private.stat().st_mode & 0o077 == 0
    return private, public


def sealed_store(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a, _, _ = a_trail(store, tamper_for(store, str(path)))
    return path, a


def run(*args: str):
    return CliRunner().invoke(cli, ["store", *args])


def test_a_signed_checkpoint_is_printed_filed_and_verified(tmp_path, keys):
    path, _ = sealed_store(tmp_path)
    private, public = keys
    anchors = tmp_path / "anchors"
    taken = run("checkpoint", "--store", str(path), "--key", str(private),
                "--anchor-dir", str(anchors))  # fmt: skip
    assert taken.exit_code == 0, taken.output
    lines = taken.stdout.splitlines()
    assert lines[0].startswith("m365-toolkit/") and lines[1] == "8"
    filed = list(anchors.glob("*.checkpoint"))
    assert len(filed) == 1 and filed[0].read_text(encoding="utf-8") == taken.stdout
    result = run("verify", "--store", str(path), "--anchor-dir", str(anchors),
                 "--public-key", str(public))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Held against 1 checkpoint(s)" in result.output
    assert "Keyed: signed checkpoints vouch for positions 0..7" in result.output


def test_a_dropped_tail_is_truncated_against_the_anchor(tmp_path, keys):
    path, _ = sealed_store(tmp_path)
    private, public = keys
    anchors = tmp_path / "anchors"
    assert run("checkpoint", "--store", str(path), "--key", str(private),
               "--anchor-dir", str(anchors)).exit_code == 0  # fmt: skip
    conn = sqlite3.connect(path, isolation_level=None)  # the newest record, the chain from it
    conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    conn.execute("DELETE FROM chain WHERE pos >= 7")  # with the checkpoint chained after it
    conn.execute("UPDATE chain_meta SET sealed_through = 7")
    conn.execute("DELETE FROM sessions WHERE id NOT IN (SELECT session FROM events)")
    conn.close()
    assert run("verify", "--store", str(path)).exit_code == 0  # the chain alone cannot tell
    result = run("verify", "--store", str(path), "--anchor-dir", str(anchors), "--json",
                 "--public-key", str(public))  # fmt: skip
    assert result.exit_code == 1
    assert '"kind": "TRUNCATED"' in result.output


def test_history_rewritten_with_every_hash_recomputed_is_caught_by_the_checkpoint(tmp_path, keys):
    path, _ = sealed_store(tmp_path)
    private, public = keys
    anchors = tmp_path / "anchors"
    assert run("checkpoint", "--store", str(path), "--key", str(private),
               "--anchor-dir", str(anchors)).exit_code == 0  # fmt: skip
    # The attacker edits a record, drops the chain from it on and has the store reseal.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE events SET description = 'nothing happened' WHERE seq = 2")
    conn.execute("DELETE FROM chain WHERE pos >= 1")
    conn.execute("UPDATE chain_meta SET sealed_through = 1")
    conn.close()
    assert run("verify", "--store", str(path)).exit_code == 0  # recomputed: looks intact
    result = run("verify", "--store", str(path), "--anchor-dir", str(anchors),
                 "--public-key", str(public))  # fmt: skip
    assert result.exit_code == 1
    assert "BROKEN: first at position 7" in result.output
    assert "CHECKPOINT-INVALID" in result.output and "rewritten" in result.output


def test_a_forged_checkpoint_or_the_wrong_key_is_invalid(tmp_path, keys):
    path, _ = sealed_store(tmp_path)
    private, public = keys
    anchors = tmp_path / "anchors"
    with open_store(path) as store:
        found = cp.checkpoint(store, private)
        forged = cp.Checkpoint(found.store_id, found.size, "00" * 32, found.time,
                               found.algorithm, found.key_id, found.signature)  # fmt: skip
        cp.anchor(forged, anchors)
        result = cp.verify_with(store, cp.anchors(anchors), public.read_bytes())
    assert result.first is not None and result.first.kind.value == "CHECKPOINT-INVALID"
    assert "does not verify" in result.first.detail
    other = tmp_path / "other.key"
    other_public = cp.generate_key(other, shared=found.algorithm == "hmac-sha256")
    with open_store(path) as store:
        result = cp.verify_with(store, [found], other_public.read_bytes())
    assert result.counts == {"CHECKPOINT-INVALID": 2}  # the one filed, and its chained copy


def test_records_after_a_checkpoint_keep_it_valid(tmp_path):
    path, _ = sealed_store(tmp_path)
    with open_store(path) as store:
        first = cp.checkpoint(store)
        active = next(s for s in store.history(SessionQuery()) if s["status"] == "active")
        store.append_event(active["session_id"], event(T0 + timedelta(minutes=5)))
        result = cp.verify_with(store, [first])
    assert result.intact and result.size == 10  # 8 records, the checkpoint, 1 more
    assert result.last_checkpoint == (8, first.time)
    assert cp.Checkpoint.parse(first.text()) == first
