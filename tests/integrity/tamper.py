"""Edits made behind a store's back, as someone with write access to its files or database
would make them: sqlite3 on the file, psycopg on the schema, a text editor on the JSON files,
and, for the memory store, its state in place."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from m365_toolkit.store import Store
from m365_toolkit.store.jsonfile import cost_log_for


class Tamper:
    """The edits of the tamper tests; one subclass per kind of store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def edit_description(self, seq: int, text: str) -> None: ...
    def edit_metadata(self, session_id: str, value: dict[str, Any]) -> None: ...
    def delete_event(self, seq: int) -> None: ...
    def insert_event(self, session_id: str, seq: int) -> None: ...
    def swap_events(self, a: int, b: int) -> None: ...
    def set_status(self, session_id: str, status: str) -> None: ...
    def break_link(self, pos: int) -> None: ...
    def mark_pruned(self, pos: int) -> None:
        """Mark a chain position pruned, as retention would before deleting its record."""

    def edit_cost(self, seq: int) -> None: ...
    def skip_numbers(self, count: int) -> None:
        """Leave a gap in the sequence, as transactions that rolled back leave one."""


class SQLTamper(Tamper):
    def __init__(self, store: Store, location: str) -> None:
        super().__init__(store)
        self.location = location
        self.postgres = location.startswith("postgres")

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            import psycopg

            with psycopg.connect(self.location, autocommit=True) as conn:
                cursor = conn.execute(statement.replace("?", "%s"), params)
                return cursor.fetchall() if cursor.description else []
        conn = sqlite3.connect(self.location, isolation_level=None)
        try:
            return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

    def edit_description(self, seq: int, text: str) -> None:
        self.run("UPDATE events SET description = ? WHERE seq = ?", (text, seq))

    def edit_metadata(self, session_id: str, value: dict[str, Any]) -> None:
        self.run(
            "UPDATE sessions SET metadata = ? WHERE session_id = ?", (json.dumps(value), session_id)
        )

    def delete_event(self, seq: int) -> None:
        self.run("DELETE FROM events WHERE seq = ?", (seq,))

    def insert_event(self, session_id: str, seq: int) -> None:
        self.run(
            "INSERT INTO events (seq, session, timestamp, type, description, data) "
            "SELECT ?, id, start_time, 'progress', 'forged', '{}' FROM sessions "
            "WHERE session_id = ?",
            (seq, session_id),
        )

    def swap_events(self, a: int, b: int) -> None:
        columns = "session, timestamp, type, description, data"
        rows = {
            row[0]: row[1:]
            for row in self.run(f"SELECT seq, {columns} FROM events WHERE seq IN (?, ?)", (a, b))
        }
        for seq, other in ((a, b), (b, a)):
            self.run(
                "UPDATE events SET session = ?, timestamp = ?, type = ?, description = ?, "
                "data = ? WHERE seq = ?",
                (*rows[other], seq),
            )

    def set_status(self, session_id: str, status: str) -> None:
        self.run("UPDATE sessions SET status = ? WHERE session_id = ?", (status, session_id))

    def break_link(self, pos: int) -> None:
        self.run("UPDATE chain SET link = ? WHERE pos = ?", (os.urandom(32), pos))

    def mark_pruned(self, pos: int) -> None:
        self.run("UPDATE chain SET pruned = TRUE WHERE pos = ?", (pos,))

    def edit_cost(self, seq: int) -> None:
        self.run("UPDATE costs SET input_cost = input_cost + 1000000 WHERE seq = ?", (seq,))

    def skip_numbers(self, count: int) -> None:
        if self.postgres:
            self.run("SELECT setval('store_sequence', (SELECT last_value FROM store_sequence) + ?)",
                     (count,))  # fmt: skip
        else:
            self.run("UPDATE store_sequence SET last = last + ?", (count,))


class StateTamper(Tamper):
    """Edits of the memory store's state or the JSON store's files: the same session dicts."""

    def sessions(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def save(self, sessions: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def change(self, edit: Any) -> None:
        sessions = self.sessions()
        edit(sessions)
        self.save(sessions)

    def _event(self, sessions: list[dict[str, Any]], seq: int) -> tuple[dict[str, Any], int]:
        for session in sessions:
            for i, event in enumerate(session["events"]):
                if event.get("seq") == seq:
                    return session, i
        raise KeyError(seq)

    def edit_description(self, seq: int, text: str) -> None:
        def edit(sessions: list[dict[str, Any]]) -> None:
            session, i = self._event(sessions, seq)
            session["events"][i]["description"] = text

        self.change(edit)

    def edit_metadata(self, session_id: str, value: dict[str, Any]) -> None:
        self.change(lambda ss: next(s for s in ss if s["session_id"] == session_id).update(
            metadata=value))  # fmt: skip

    def delete_event(self, seq: int) -> None:
        def edit(sessions: list[dict[str, Any]]) -> None:
            session, i = self._event(sessions, seq)
            del session["events"][i]

        self.change(edit)

    def insert_event(self, session_id: str, seq: int) -> None:
        def edit(sessions: list[dict[str, Any]]) -> None:
            session = next(s for s in sessions if s["session_id"] == session_id)
            forged = {"timestamp": session["start_time"], "type": "progress",
                      "description": "forged", "data": {}, "seq": seq}  # fmt: skip
            session["events"].append(forged)
            session["events"].sort(key=lambda e: e["seq"])

        self.change(edit)

    def swap_events(self, a: int, b: int) -> None:
        def edit(sessions: list[dict[str, Any]]) -> None:
            (sa, ia), (sb, ib) = self._event(sessions, a), self._event(sessions, b)
            ea, eb = sa["events"][ia], sb["events"][ib]
            sa["events"][ia], sb["events"][ib] = {**eb, "seq": a}, {**ea, "seq": b}

        self.change(edit)

    def set_status(self, session_id: str, status: str) -> None:
        self.change(lambda ss: next(s for s in ss if s["session_id"] == session_id).update(
            status=status))  # fmt: skip


class MemoryTamper(StateTamper):
    def sessions(self) -> list[dict[str, Any]]:
        return self.store._state.sessions  # type: ignore[attr-defined, no-any-return]

    def save(self, sessions: list[dict[str, Any]]) -> None:
        pass  # edited in place

    def break_link(self, pos: int) -> None:
        rows = self.store._chain_state.rows  # type: ignore[attr-defined]
        rows[pos] = replace(rows[pos], link=os.urandom(32))

    def mark_pruned(self, pos: int) -> None:
        rows = self.store._chain_state.rows  # type: ignore[attr-defined]
        rows[pos] = replace(rows[pos], pruned=True)

    def edit_cost(self, seq: int) -> None:
        costs = self.store._state.costs  # type: ignore[attr-defined]
        for i, (number, record) in enumerate(costs):
            if number == seq:
                cost = replace(record.cost, input=record.cost.input + Decimal(1))
                costs[i] = (number, replace(record, cost=cost))

    def skip_numbers(self, count: int) -> None:
        self.store._state.last_seq += count  # type: ignore[attr-defined]


class JsonTamper(StateTamper):
    def __init__(self, store: Store, path: Path) -> None:
        super().__init__(store)
        self.path = path

    def sessions(self) -> list[dict[str, Any]]:
        return json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def save(self, sessions: list[dict[str, Any]]) -> None:
        self.path.write_text(json.dumps(sessions, indent=2), encoding="utf-8")

    def break_link(self, pos: int) -> None:
        self._chain_row(pos, 4, os.urandom(32).hex())

    def mark_pruned(self, pos: int) -> None:
        self._chain_row(pos, 5, True)

    def _chain_row(self, pos: int, column: int, value: Any) -> None:
        chain_file = self.path.with_name(self.path.name + ".chain")
        data = json.loads(chain_file.read_text(encoding="utf-8"))
        data["chain"][pos][column] = value
        chain_file.write_text(json.dumps(data), encoding="utf-8")

    def edit_cost(self, seq: int) -> None:
        cost_file = cost_log_for(self.path)
        entries = json.loads(cost_file.read_text(encoding="utf-8"))
        for entry in entries:
            if entry.get("seq") == seq:
                entry["cost"]["input"] = str(Decimal(str(entry["cost"]["input"])) + 1)
        cost_file.write_text(json.dumps(entries), encoding="utf-8")

    def skip_numbers(self, count: int) -> None:
        seq_file = self.path.with_name(self.path.name + ".seq")
        seq_file.write_text(f"{int(seq_file.read_text(encoding='utf-8')) + count}\n",
                            encoding="utf-8")  # fmt: skip


def tamper_for(store: Store, location: str) -> Tamper:
    """The tamperer of a store opened at ``location``."""
    if location == "memory:":
        return MemoryTamper(store)
    if location.endswith(".json"):
        return JsonTamper(store, Path(location))
    return SQLTamper(store, location)
