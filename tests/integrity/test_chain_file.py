"""A chain export verifies offline with nothing but the file; every edit of the file is
caught: random single edits, and with a signed checkpoint in it, a dropped tail."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner

from m365_toolkit.cli import cli
from m365_toolkit.store import checkpoint as cp
from m365_toolkit.store import open_store
from m365_toolkit.store.chain_file import export_chain, verify_file
from tests.integrity.tamper import tamper_for
from tests.store.test_chain import a_trail


def test_an_export_of_every_store_verifies_offline(location, tmp_path):
    with open_store(location) as store:
        a_trail(store, tamper_for(store, location))
        result = export_chain(store, tmp_path / "chain.jsonl")
    assert result.intact
    offline = verify_file(tmp_path / "chain.jsonl")
    assert offline.intact and offline.size == 8
    assert (offline.store_id, offline.head) == (result.store_id, result.head)


def test_random_single_edits_of_an_export_are_all_caught(tmp_path):
    path = tmp_path / "sessions.db"
    key = tmp_path / "k"
    public = cp.generate_key(key)
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
        signed = cp.checkpoint(store, key)
        export_chain(store, tmp_path / "chain.jsonl", [signed])
    lines = (tmp_path / "chain.jsonl").read_text(encoding="utf-8").splitlines()
    header, body, trailer = lines[0], lines[1:-1], lines[-1]
    rng = random.Random(5)
    for attempt in range(120):
        edited = [json.loads(line) for line in body]
        pos = rng.randrange(len(edited))
        what = rng.choice(["field", "delete", "swap", "link", "leaf", "truncate"])
        if what == "field":
            record = edited[pos]["record"]
            name = rng.choice(sorted(k for k in record if k not in ("v",)))
            record[name] = f"edited {attempt}"
        elif what == "delete":
            del edited[pos]
        elif what == "swap":
            other = (pos + 1 + rng.randrange(len(edited) - 1)) % len(edited)
            edited[pos]["record"], edited[other]["record"] = (
                edited[other]["record"], edited[pos]["record"])  # fmt: skip
        elif what in ("link", "leaf"):
            edited[pos][what] = rng.randbytes(32).hex()
        else:
            edited = edited[: pos or 1]
        text = "\n".join([header, *(json.dumps(e) for e in edited), trailer]) + "\n"
        (tmp_path / "edited.jsonl").write_text(text, encoding="utf-8")
        result = verify_file(tmp_path / "edited.jsonl", public.read_bytes())
        assert not result.intact, (what, pos)
        assert result.keyed


def test_the_cli_exports_and_verifies_a_file(tmp_path: Path):
    path = tmp_path / "sessions.db"
    with open_store(path) as store:
        a_trail(store, tamper_for(store, str(path)))
    out = tmp_path / "chain.jsonl"
    exported = CliRunner().invoke(cli, ["store", "export-chain", str(out), "--store", str(path)])
    assert exported.exit_code == 0, exported.output
    assert "Wrote 8 chain position(s)" in exported.output
    result = CliRunner().invoke(cli, ["store", "verify", "--file", str(out)])
    assert result.exit_code == 0, result.output
    assert "INTACT" in result.output
    assert CliRunner().invoke(cli, ["store", "export-chain", str(path), "--store",
                                    str(path)]).exit_code == 1  # fmt: skip
