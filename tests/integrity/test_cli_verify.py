"""``m365-toolkit store verify``: exit 0 and a plain statement when intact; exit 1 naming
the first broken record otherwise; ``--json`` gives the same data."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from m365_toolkit.cli import cli
from m365_toolkit.store import open_store
from tests.integrity.tamper import tamper_for
from tests.store.test_chain import a_trail
from tests.store.test_migration import RELEASE_STORE


def test_verify_of_an_intact_store_exits_0_and_says_what_it_cannot_detect(tmp_path):
    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
    result = CliRunner().invoke(cli, ["store", "verify", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "INTACT" in result.output
    assert "8 record(s)" in result.output
    assert "detects accidental and naive edits only" in result.output


def test_verify_of_a_tampered_store_names_the_first_break_and_exits_1(tmp_path):
    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a, _, _ = a_trail(store, tamper_for(store, str(path)))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE events SET description = 'nothing to see' WHERE seq = 2")
    conn.execute("UPDATE sessions SET status = 'success' WHERE session_id = ?", (a,))
    conn.close()
    result = CliRunner().invoke(cli, ["store", "verify", "--store", str(path)])
    assert result.exit_code == 1
    assert f"BROKEN: first at position 1 (seq 2, session {a}): EDITED" in result.output
    assert "EDITED 1, DERIVED-MISMATCH 1" in result.output
    as_json = CliRunner().invoke(cli, ["store", "verify", "--store", str(path), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.output)
    assert data["intact"] is False
    assert data["first"] == {"kind": "EDITED", "pos": 1, "seq": 2, "session_id": a,
                             "record_kind": "event", "detail": data["first"]["detail"]}  # fmt: skip
    assert data["counts"] == {"EDITED": 1, "DERIVED-MISMATCH": 1}


def test_a_store_of_an_earlier_release_is_sealed_in_place_and_verifies(tmp_path):
    # Release 0.1.0 numbered events and costs apart: event 4 and cost 4 share a number.
    path = tmp_path / "sessions.db"
    shutil.copy(RELEASE_STORE, path)
    result = CliRunner().invoke(cli, ["store", "verify", "--store", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["size"], data["valid"]) == (10, 10)  # events 4-10, costs 2-4
    conn = sqlite3.connect(path)
    kinds = conn.execute("SELECT kind, ref FROM chain ORDER BY pos").fetchall()
    conn.close()
    assert [ref for _, ref in kinds] == sorted(ref for _, ref in kinds)


def test_verify_of_a_missing_store_file_is_an_error(tmp_path: Path):
    result = CliRunner().invoke(cli, ["store", "verify", "--store", str(tmp_path / "no.db")])
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert not (tmp_path / "no.db").exists()


def test_sessions_stats_shows_the_chain_status(tmp_path):
    import json
    import sqlite3

    from click.testing import CliRunner

    from m365_toolkit.cli import cli
    from m365_toolkit.store import checkpoint as cp
    from m365_toolkit.store import open_store
    from tests.integrity.tamper import tamper_for
    from tests.store.test_chain import a_trail

    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
        taken = cp.checkpoint(store)
    runner = CliRunner()
    text = runner.invoke(cli, ["sessions", "stats", "--store", str(path)]).output
    assert f"Chain: intact through position 8 of 9; last checkpoint at position 8, {taken.time}" \
        in text  # fmt: skip
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE events SET description = 'x' WHERE seq = 4")  # position 3
    conn.close()
    report = json.loads(runner.invoke(cli, ["sessions", "stats", "--json", "--store",
                                            str(path)]).output)  # fmt: skip
    assert report["chain"]["intact"] is False and report["chain"]["intact_through"] == 2
    assert report["chain"]["last_checkpoint"]["pos"] == 8
    skipped = runner.invoke(cli, ["sessions", "stats", "--no-chain", "--store", str(path)])
    assert skipped.exit_code == 0 and "Chain:" not in skipped.output
