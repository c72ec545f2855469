"""The chain of the memory and JSON stores: the same format as the SQL stores' ``chain``
table, kept beside the state (the JSON store saves it to ``F.chain`` under its file lock).

Every write of these stores holds the store's lock from the moment it takes a number until
its state is saved, so the sealer, holding the same lock, finds every record numbered up to
``last_seq`` final: after a seal, a record numbered up to ``sealed_through`` that has no
chain row was put there behind the store's back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .._util.system import format_time
from ..costs.model import CostRecord
from ._canonical import canonical
from ._notes import NOTE_KINDS, NoteMaker, checkpoint_maker, due, fixed, ranges
from ._records import cost_record_of, event_record, outcome_text, session_fields
from ._signing import configured_key
from .chain import (
    FORMAT,
    ChainRow,
    SealResult,
    Sink,
    Verification,
    Walker,
    genesis,
    leaf_hash,
    link_hash,
    note_record,
)
from .memory import MemoryState
from .sql_chain import outcome_mismatch

Entry = dict[str, Any]


@dataclass
class ChainState:
    """A memory or JSON store's chain: its id, sealed range and rows."""

    store_id: str
    sealed_through: int = 0
    rows: list[ChainRow] = field(default_factory=list)

    def head(self) -> bytes:
        """The last link (the genesis of an empty chain)."""
        return self.rows[-1].link if self.rows else genesis(self.store_id)

    @classmethod
    def new(cls) -> ChainState:
        """An empty chain with a new store id."""
        return cls(str(uuid.uuid4()))

    def to_json(self) -> str:
        """The chain file's text: one row per line, so a diff shows which changed."""
        rows = ",\n".join(
            json.dumps([r.pos, r.kind, r.ref, r.leaf.hex(), r.link.hex(), r.pruned, r.outcome])
            for r in self.rows
        )
        head = {"format": FORMAT, "store_id": self.store_id, "sealed_through": self.sealed_through}
        return json.dumps(head)[:-1] + ', "chain": [\n' + rows + "\n]}\n"

    @classmethod
    def from_json(cls, text: str) -> ChainState:
        """Read a chain file (:meth:`to_json`)."""
        data = json.loads(text)
        rows = [
            ChainRow(int(pos), str(kind), int(ref), bytes.fromhex(leaf), bytes.fromhex(link),
                     bool(pruned), outcome)
            for pos, kind, ref, leaf, link, pruned, outcome in data["chain"]
        ]  # fmt: skip
        return cls(str(data["store_id"]), int(data["sealed_through"]), rows)


@dataclass(frozen=True, slots=True)
class _Stored:
    """One numbered record of the state: an event with its session, or a cost record."""

    seq: int
    session: Entry | None
    event: Entry | None
    cost: CostRecord | None
    first: bool = False
    closes: bool = False

    @property
    def kind(self) -> str:
        if self.cost is not None:
            return "cost"
        return "start" if self.first else "complete" if self.closes else "event"

    @property
    def session_id(self) -> str | None:
        if self.cost is not None:
            return self.cost.session_id
        assert self.session is not None
        return str(self.session["session_id"])

    def record(self, kind: str, outcome: str | None) -> dict[str, Any]:
        """The chained record, as a chain row of ``kind`` with ``outcome`` names it."""
        if self.cost is not None:
            return cost_record_of(self.cost)
        session, event = self.session, self.event
        assert session is not None and event is not None
        fields = (
            session_fields(
                session.get("user"),
                session.get("operation_type"),
                session.get("metadata"),
                session.get("start_time"),
                session.get("host"),
                session.get("pid"),
                session.get("process"),
            )  # fmt: skip
            if kind == "start"
            else None
        )
        return event_record(
            kind, str(session["session_id"]),
            (event.get("timestamp"), event.get("type"), event.get("description"),
             event.get("data", {})),
            fields, json.loads(outcome) if outcome is not None else None,
        )  # fmt: skip

    def outcome(self) -> str | None:
        """The outcome this record chains, if it closes its session."""
        if not self.closes:
            return None
        s = self.session
        assert s is not None
        return outcome_text(s.get("status", "active"), s.get("end_time"), s.get("duration_seconds"))


def _numbered(state: MemoryState) -> Iterator[_Stored]:
    """Every record of the state that has a number (the original toolkit's cost entries and
    hand-made events may not)."""
    for session in state.sessions:
        events = session.get("events") or []
        finished = session.get("status", "active") != "active"
        for position, event in enumerate(events):
            if event.get("seq") is not None:
                closes = finished and position == len(events) - 1
                yield _Stored(int(event["seq"]), session, event, None, position == 0, closes)
    for seq, cost in state.costs:
        if seq is not None:
            yield _Stored(int(seq), None, None, cost)


def seal(
    state: MemoryState, chain: ChainState, note: NoteMaker | None = None, *, auto: bool = True
) -> SealResult:
    """Chain every record numbered above the sealed range, in sequence order (under the
    store's lock, which every writer holds); then ``note``, or with ``auto`` an automatic
    checkpoint when one is due (see :mod:`._notes`)."""
    pending = sorted(
        (item for item in _numbered(state) if item.seq > chain.sealed_through),
        key=lambda item: item.seq,
    )
    link = chain.rows[-1].link if chain.rows else genesis(chain.store_id)
    for item in pending:
        outcome = item.outcome()
        leaf = leaf_hash(item.record(item.kind, outcome))
        link = link_hash(link, leaf)
        chain.rows.append(
            ChainRow(len(chain.rows), item.kind, item.seq, leaf, link, False, outcome)
        )
    chain.sealed_through = max(chain.sealed_through, state.last_seq)
    key = configured_key() if auto and note is None else None
    if key is not None:
        last = next((r for r in reversed(chain.rows) if r.kind == "checkpoint"), None)
        known = (last.pos, str(json.loads(last.outcome or "{}").get("time"))) if last else None
        note = checkpoint_maker(key) if due(len(chain.rows), known) else None
    record = _append_note(chain, note) if note is not None else None
    return SealResult(chain.store_id, len(pending), len(chain.rows), chain.head().hex(), record)


def _append_note(chain: ChainState, make: NoteMaker) -> dict[str, Any]:
    last = next((r.pos for r in reversed(chain.rows) if r.kind == "checkpoint"), None)
    size = len(chain.rows)
    record = make(chain.store_id, size, chain.head(), last)
    leaf = leaf_hash(record)
    text = canonical(record).decode("utf-8")
    chain.rows.append(ChainRow(size, record["kind"], size, leaf, link_hash(chain.head(), leaf),
                               False, text))  # fmt: skip
    return record


def prune(
    state: MemoryState, chain: ChainState, seqs: set[int], before: Any, counts: tuple[int, ...]
) -> None:
    """Seal, keep the leaves of the records about to be pruned, marked as pruned, and chain
    a prune record naming them, then (with a key configured) a checkpoint."""
    seal(state, chain, auto=False)
    positions = []
    for i, row in enumerate(chain.rows):
        if row.kind not in NOTE_KINDS and row.ref in seqs:
            chain.rows[i] = replace(row, pruned=True)
            positions.append(row.pos)
    sessions, events, costs = counts
    _append_note(chain, fixed("prune", {
        "before": format_time(before), "sessions": sessions, "events": events, "costs": costs,
        "positions": ranges(positions),
    }))  # fmt: skip
    key = configured_key()
    if key is not None:
        _append_note(chain, checkpoint_maker(key))


def verify(
    state: MemoryState, chain: ChainState, links_at: Collection[int] = (), sink: Sink | None = None
) -> Verification:
    """Walk the chain beside the state's records (seal first)."""
    # By table and number: stores migrated from the first release hold an event and a cost
    # with the same number.
    stored = {(item.cost is not None, item.seq): item for item in _numbered(state)}
    walker = Walker(chain.store_id, frozenset(links_at), sink)
    by_ref: dict[tuple[bool, int], ChainRow] = {}
    for row in chain.rows:
        if row.kind in NOTE_KINDS:
            note, plain = note_record(row)
            walker.row(row, note, plain=plain)
            continue
        key = (row.kind == "cost", row.ref)
        item = stored.pop(key, None)
        by_ref.setdefault(key, row)
        record = item.record(row.kind, row.outcome) if item is not None else None
        walker.row(row, record, item.session_id if item is not None else None)
    unsealed = 0
    for (_, seq), item in sorted(stored.items(), key=lambda pair: pair[0][1]):
        if seq <= chain.sealed_through:
            walker.inserted(seq, item.session_id, item.kind)
        else:
            unsealed += 1
    for session in state.sessions:
        events = session.get("events") or []
        last = events[-1].get("seq") if events else None
        closing = by_ref.get((False, last)) if last is not None else None
        if closing is None:
            continue
        detail = outcome_mismatch(
            session.get("status", "active"), session.get("end_time"),
            session.get("duration_seconds"), closing.outcome,
        )  # fmt: skip
        if detail:
            walker.derived(closing.pos, closing.ref, session.get("session_id"), detail)
    return walker.result(unsealed)
