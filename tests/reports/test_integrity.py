"""The header's trail integrity: the store's verify, intact, broken and with checkpoints."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from click.testing import CliRunner

from m365_toolkit.cli import cli
from m365_toolkit.reports import build, render_html
from m365_toolkit.store import checkpoint as checkpoints
from m365_toolkit.store import open_store

STORE = ("output", "sessions", "sessions.db")


def report(root, *args: str) -> tuple[dict, dict]:
    target = root / "board.json"
    result = CliRunner().invoke(cli, ["report", "--root", str(root), "--json", "--format",
                                      "json", "-o", str(target), *args])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output), json.loads(target.read_text(encoding="utf-8"))


def test_an_intact_trail_is_verified_to_its_last_position_with_the_newest_checkpoint(
    seeded, root, tmp_path
):
    anchors = tmp_path / "anchors"
    for moment in (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 4, 8, tzinfo=UTC)):
        checkpoints.anchor(checkpoints.checkpoint(seeded.store, now=moment), anchors)
        with seeded.session("session_query"):
            pass  # the trail goes on: the later checkpoint is larger
    seeded.close()
    out, doc = report(root, "--anchor-dir", str(anchors))
    trail = doc["header"]["integrity"]
    assert out["integrity"] == trail["status"] == "intact"
    assert trail["valid"] == trail["size"] > 0 and trail["first_break"] is None
    assert trail["summary"].startswith(f"Intact: all {trail['size']:,} chained record(s)")
    assert trail["checkpoints"] == 2 and trail["last_checkpoint_time"].startswith(
        "2026-03-04T08:00:00"
    )
    with open_store(root.joinpath(*STORE)) as store:
        assert store.verify().size >= trail["size"]  # the report's own session came after


def test_an_edited_event_shows_where_the_chain_breaks_in_the_page_and_the_json(seeded, root):
    board = build(seeded.store, root, clock=seeded.clock)
    assert board.header.integrity.status == "intact"
    seeded.close()
    with sqlite3.connect(root.joinpath(*STORE)) as conn:
        seq = conn.execute("SELECT min(seq) FROM events WHERE type = 'progress'").fetchone()[0]
        conn.execute("UPDATE events SET description = 'edited' WHERE seq = ?", (seq,))
    conn.close()
    _, doc = report(root)
    trail = doc["header"]["integrity"]
    first = trail["first_break"]
    assert trail["status"] == "broken" and first["seq"] == seq and first["kind"]
    assert trail["summary"].startswith(
        f"Broken at position {first['pos']:,}, intact up to position {first['pos'] - 1:,}"
    )
    with open_store(root.joinpath(*STORE)) as store:
        page = render_html(build(store, root, clock=seeded.clock))
    assert 'id="integrity" data-status="broken"' in page
    assert f"Broken at position {first['pos']:,}" in page


def test_no_verify_says_the_chain_was_not_checked(seeded, root):
    seeded.close()
    out, doc = report(root, "--no-verify")
    assert out["integrity"] == doc["header"]["integrity"]["status"] == "not checked"
    assert doc["header"]["integrity"]["size"] == 0


def test_a_missing_anchor_folder_is_refused_by_name(seeded, root, tmp_path):
    seeded.close()
    result = CliRunner().invoke(
        cli, ["report", "--root", str(root), "--anchor-dir", str(tmp_path / "nowhere")]
    )
    assert (
        result.exit_code != 0 and "nowhere" in result.output and "does not exist" in result.output
    )
