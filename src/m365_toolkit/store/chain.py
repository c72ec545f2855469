"""The tamper-evident chain over every stored record: encoding, hashes and the verify walk.

Every record a store keeps — a session's start, each event, its completion, each cost
record — becomes a leaf of one store-wide chain, in the order it was sealed:

- ``leaf = SHA-256(0x00 ‖ JCS(record))``: the record's content in RFC 8785 bytes
  (:mod:`._canonical`), hashed as an RFC 6962 leaf so Merkle proofs can be added later;
- ``link_n = SHA-256(0x01 ‖ link_{n-1} ‖ leaf_n)``, starting from
  ``link_-1 = SHA-256("m365-toolkit/chain/v1" ‖ store id)``: a chain cannot be spliced in
  from another store.

A leaf holds what the record *says*, not where it sits: neither its position nor its
sequence number is hashed into it (the link binds the position, the chain row names the
record by its sequence number). So when two records swap contents, each recomputed leaf
equals the other's stored one, and :class:`Walker` can say *reordered* rather than *edited*.

Mutable columns are not chained: a session's status, end time and duration are chained
once, in the record that closes the session (its ``outcome``), and :class:`Walker` checks the
session row against it (``DERIVED-MISMATCH``); cost totals are checked against the costs.

Without a key, anyone who can write the store can recompute every hash: the chain then
catches accidents and naive edits, not an attacker (signed checkpoints are what stops one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._hashes import GENESIS_TAG as GENESIS_TAG  # re-exported, as the hashes
from ._hashes import genesis as genesis
from ._hashes import leaf_hash as leaf_hash
from ._hashes import leaf_of as leaf_of
from ._hashes import link_hash as link_hash
from ._notes import NOTE_KINDS, Notes

FORMAT = 1
EVENT_KINDS = ("start", "event", "complete")
MAX_LISTED = 1000  # breaks listed one by one; beyond that only counted
UNKEYED = (
    "unkeyed: this chain detects accidental and naive edits only, not an attacker with "
    "write access (who can recompute every hash); signed checkpoints are needed for that."
)


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One position of the chain as stored: which record, its leaf and its link."""

    pos: int
    kind: str
    ref: int
    leaf: bytes
    link: bytes
    pruned: bool = False
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class SealResult:
    """What :meth:`Store.seal` did: records added to the chain, and the chain after."""

    store_id: str
    sealed: int
    size: int
    head: str
    note: dict[str, Any] | None = None  # the note appended after them, if any


class BreakKind(StrEnum):
    """How the chain and the stored records disagree."""

    EDITED = "EDITED"
    REORDERED = "REORDERED"
    DELETED = "DELETED"
    INSERTED = "INSERTED"
    LINK_BROKEN = "LINK-BROKEN"
    DERIVED_MISMATCH = "DERIVED-MISMATCH"
    CHECKPOINT_INVALID = "CHECKPOINT-INVALID"
    TRUNCATED = "TRUNCATED"


@dataclass(frozen=True, slots=True)
class Break:
    """One disagreement: where (chain position, sequence number, session) and what."""

    kind: BreakKind
    pos: int | None
    seq: int | None
    session_id: str | None
    record_kind: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "pos": self.pos, "seq": self.seq,
            "session_id": self.session_id, "record_kind": self.record_kind,
            "detail": self.detail,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of walking a store's whole chain (:meth:`Store.verify`).

    Attributes:
        store_id: The store's id, which the chain's first link is bound to.
        size: Positions in the chain.
        head: The last link (hex), which a checkpoint or an anchor would record.
        valid: Positions whose record, leaf and link all agree.
        pruned: Positions whose record was pruned (their leaf kept and linked).
        unsealed: Records written after the chain was sealed for this walk: not protected yet.
        breaks: The first :data:`MAX_LISTED` breaks, in chain order.
        counts: How many breaks of each kind, all of them.
        keyed: Whether a key vouched for the chain (a signed checkpoint verified with it).
        links: The links at the positions asked for (``links_at``), as walked.
        checkpoints: The checkpoints chained in the store, ``(position, record)``, in order
            (their structure checked; their signatures checked by
            :func:`~.checkpoint.verify_against` with the key given).
        migrations: The migration records chained, ``(position, record)``: each names the
            head of the store the records were copied from (``verify --source``).
    """

    store_id: str
    size: int
    head: str
    valid: int
    pruned: int
    unsealed: int
    breaks: list[Break]
    counts: dict[str, int]
    keyed: bool = False
    links: dict[int, str] = field(default_factory=dict)
    checkpoints: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    migrations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def last_checkpoint(self) -> tuple[int, str] | None:
        """The position and time of the newest checkpoint in the chain."""
        if not self.checkpoints:
            return None
        pos, record = self.checkpoints[-1]
        return pos, str(record.get("time"))

    @property
    def intact_through(self) -> int:
        """The last position up to which nothing is broken (-1: broken from the start)."""
        first = self.first
        return self.size - 1 if first is None or first.pos is None else first.pos - 1

    def status(self) -> str:
        """One line: intact through which position, and the newest checkpoint."""
        last = self.last_checkpoint
        checkpoint = (
            f"last checkpoint at position {last[0]}, {last[1]}" if last else "no checkpoint yet"
        )
        if self.intact:
            return f"intact through position {self.intact_through} of {self.size}; {checkpoint}"
        first = self.first
        assert first is not None
        return (
            f"BROKEN ({first.kind.value}); intact through position {self.intact_through} of "
            f"{self.size}; {checkpoint}"
        )

    @property
    def intact(self) -> bool:
        """No break of any kind."""
        return not self.counts

    @property
    def first(self) -> Break | None:
        """The first break in chain order, if any."""
        return self.breaks[0] if self.breaks else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact, "store_id": self.store_id, "size": self.size,
            "head": self.head, "valid": self.valid, "pruned": self.pruned,
            "unsealed": self.unsealed, "keyed": self.keyed,
            "first": self.first.to_dict() if self.first else None,
            "counts": dict(self.counts), "breaks": [b.to_dict() for b in self.breaks],
            "note": None if self.keyed else UNKEYED,
            "intact_through": self.intact_through, "checkpoints": len(self.checkpoints),
            "last_checkpoint": None if self.last_checkpoint is None else {
                "pos": self.last_checkpoint[0], "time": self.last_checkpoint[1],
                "algorithm": self.checkpoints[-1][1].get("algorithm"),
            },
        }  # fmt: skip


Sink = Callable[[ChainRow, Mapping[str, Any] | None], None]
"""Sees each chain row with the record rebuilt for it (an export writes them down)."""


@dataclass(slots=True)
class _Mismatch:
    pos: int
    seq: int
    session_id: str | None
    record_kind: str
    computed: bytes
    stored: bytes


@dataclass
class Walker:
    """Walks chain rows in position order beside the records they name; see the module
    docstring. Feed it with :meth:`row`, :meth:`inserted` and :meth:`derived`, then
    :meth:`result`. Memory stays bounded by the number of breaks, not the chain's size."""

    store_id: str
    links_at: frozenset[int] = frozenset()
    sink: Sink | None = None
    _links: dict[int, str] = field(default_factory=dict)
    _previous: bytes = b""
    _recomputed: bytes | None = None
    _expected: int = 0
    _valid: int = 0
    _pruned: int = 0
    _breaks: list[Break] = field(default_factory=list)
    _mismatches: list[_Mismatch] = field(default_factory=list)
    _notes: Notes = field(init=False)

    def __post_init__(self) -> None:
        self._previous = genesis(self.store_id)
        self._notes = Notes(self.store_id)

    def row(
        self,
        row: ChainRow,
        record: Mapping[str, Any] | None,
        session_id: str | None = None,
        *,
        plain: bool = False,
    ) -> None:
        """Check one chain row against its record (``None``: the record is gone)."""
        if self.sink is not None:
            self.sink(row, record)
        ok, before = True, self._previous
        if row.pos != self._expected:
            missing = f"{self._expected}" + (
                f"..{row.pos - 1}" if row.pos - 1 > self._expected else ""
            )
            self._break(BreakKind.DELETED, self._expected, None, None, None,
                        f"chain position(s) {missing} are missing")  # fmt: skip
            ok = False
        elif row.link != link_hash(self._previous, row.leaf) and (
            self._recomputed is None or row.link != link_hash(self._recomputed, row.leaf)
        ):
            detail = "the stored link does not follow from the previous link and this leaf"
            self._break(BreakKind.LINK_BROKEN, row.pos, row.ref, session_id, row.kind, detail)
            ok = False
            # The next row may follow from this stored link (a record's leaf and link were
            # rewritten) or from the one that should be here (this link alone was damaged):
            # either way one damage is one break.
            self._recomputed = link_hash(self._previous, row.leaf)
            self._previous, self._expected = row.link, row.pos + 1
            if row.pos in self.links_at:
                self._links[row.pos] = row.link.hex()
            self._check_record(row, record, session_id, plain, before)
            return
        if self._check_record(row, record, session_id, plain, before) and ok:
            self._valid += 1
        # Resynchronise on the stored link: one break is reported once, not at every later row.
        self._previous, self._expected, self._recomputed = row.link, row.pos + 1, None
        if row.pos in self.links_at:
            self._links[row.pos] = row.link.hex()

    def intact(self, pos: Any, leaf: Any, link: Any, computed: bytes) -> bool:
        """:meth:`row`'s hot path: count an unbroken row (else False: :meth:`row` says why)."""
        if (type(pos) is not int or pos != self._expected or computed != leaf
                or type(link) is not bytes
                or link != link_hash(self._previous, leaf)):  # fmt: skip
            return False
        self._valid += 1
        self._previous, self._expected, self._recomputed = link, pos + 1, None
        if pos in self.links_at:
            self._links[pos] = link.hex()
        return True

    def _check_record(
        self, row: ChainRow, record: Mapping[str, Any] | None, session_id: str | None,
        plain: bool, before: bytes,
    ) -> bool:  # fmt: skip
        ok = True
        if record is None:
            if row.pruned:
                self._pruned += 1
                self._notes.pruned(row.pos)
            else:
                detail = f"the {row.kind} record with sequence number {row.ref} is gone"
                self._break(BreakKind.DELETED, row.pos, row.ref, session_id, row.kind, detail)
                ok = False
        else:
            computed = leaf_hash(record, plain=plain)
            if computed != row.leaf:
                self._mismatches.append(
                    _Mismatch(row.pos, row.ref, session_id, row.kind, computed, row.leaf)
                )
                ok = False
            elif row.kind in NOTE_KINDS:
                problem = self._notes.see(row.pos, record, before)
                if problem:
                    detail = f"this checkpoint does not state the chain before it: {problem}"
                    self._break(
                        BreakKind.CHECKPOINT_INVALID, row.pos, row.ref, None, row.kind, detail
                    )
                    ok = False
        return ok

    def inserted(self, seq: int, session_id: str | None, kind: str) -> None:
        """A record inside the sealed range that the chain does not hold."""
        self._break(BreakKind.INSERTED, None, seq, session_id, kind,
                    f"a {kind} record with sequence number {seq} is not in the chain, "
                    "though every record up to it was sealed")  # fmt: skip

    def derived(
        self, pos: int | None, seq: int | None, session_id: str | None, detail: str
    ) -> None:
        """A mutable column that disagrees with the chained records."""
        self._break(BreakKind.DERIVED_MISMATCH, pos, seq, session_id, None, detail)

    def result(self, unsealed: int = 0) -> Verification:
        """Everything found; mismatched leaves are told apart as edited or reordered."""
        stored = {m.stored for m in self._mismatches}
        for m in self._mismatches:
            moved = m.computed in stored
            self._break(
                BreakKind.REORDERED if moved else BreakKind.EDITED, m.pos, m.seq, m.session_id,
                m.record_kind,
                "this record's content is the one sealed at another position" if moved
                else "the record no longer matches the leaf sealed for it",
            )  # fmt: skip
        for first, last in self._notes.uncovered():
            detail = (
                f"position(s) {first}..{last} are marked pruned, but no prune record names "
                "them: their records were deleted behind the store's back"
            )
            self._break(BreakKind.DELETED, first, None, None, None, detail)
        ordered = sorted(self._breaks, key=_order)
        counts: dict[str, int] = {}
        for item in ordered:
            counts[item.kind.value] = counts.get(item.kind.value, 0) + 1
        return Verification(
            self.store_id, self._expected, self._previous.hex(), self._valid, self._pruned,
            unsealed, ordered[:MAX_LISTED], counts, links=dict(self._links),
            checkpoints=self._notes.checkpoints, migrations=self._notes.migrations,
        )  # fmt: skip

    def _break(
        self, kind: BreakKind, pos: int | None, seq: int | None, session_id: str | None,
        record_kind: str | None, detail: str,
    ) -> None:  # fmt: skip
        self._breaks.append(Break(kind, pos, seq, session_id, record_kind, detail))


def _order(item: Break) -> tuple[bool, float, float]:
    """Breaks of the records first, in chain order, those outside it (inserted records) after
    by sequence number; then the derived columns, which can only be judged against intact
    records (a deleted completion also leaves its session's status unexplained)."""
    pos = float("inf") if item.pos is None else item.pos
    derived = item.kind is BreakKind.DERIVED_MISMATCH
    return derived, pos, float("inf") if item.seq is None else item.seq


def note_record(row: ChainRow) -> tuple[dict[str, Any] | None, bool]:
    """The record of a note's chain row (kept beside it), and whether it is plain."""
    from ._canonical import decode

    if row.outcome is None:
        return None, False
    value, plain = decode(row.outcome)
    return (value if isinstance(value, dict) else {"text": value}), plain


def link_all(store_id: str, head: bytes | None, leaves: Iterable[bytes]) -> list[bytes]:
    """The links of new leaves appended after ``head`` (``None``: an empty chain)."""
    previous = head if head is not None else genesis(store_id)
    links = []
    for leaf in leaves:
        previous = link_hash(previous, leaf)
        links.append(previous)
    return links
