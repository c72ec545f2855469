"""The guide's JSON array file as a store: the memory store's logic, loaded and saved under
an inter-process lock.

Beside the sessions file ``F`` lie its cost log (``F``'s name with ``.costs.json`` for
``.json``: ``sessions.costs.json``; the original toolkit's format, each entry with its
``seq``), ``F.seq`` (the highest sequence number ever
given) and ``F.lock``. A write holds the lock, reads the files, changes them through the
memory store and replaces each changed file whole (temporary file, fsync, rename), so
readers never see half a file and concurrent writers never lose each other's records.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_text_file
from ..costs.model import CostRecord
from ..errors import DamagedRecordWarning, SessionsError, StoreError, ValidationError
from ._jsonarray import JsonArrayFile, unencodable
from ._rows import Damage, record_problem, warn_damaged
from .memory import MemoryState, MemoryStore
from .memory_chain import ChainState
from .memory_costs import MemoryCostLog

COST_LOG_NAME = "gpt5_cost_log.json"
"""The one cost log that earlier versions kept beside every JSON store of a folder."""


def cost_log_for(path: Path) -> Path:
    """The cost log of the JSON store ``path``: ``a.json`` -> ``a.costs.json``, and
    ``trail.log`` -> ``trail.log.costs.json``."""
    base = path.stem if path.suffix.lower() == ".json" else path.name
    return path.with_name(f"{base}.costs.json")


class JsonStore(MemoryStore):
    """Sessions in one JSON array file, in the guide's storage format.

    Each write costs time in proportion to the files' size: for large or busy audit trails
    use the SQLite store.
    """

    def __init__(self, path: Path) -> None:
        self._file = JsonArrayFile(path, "session store", _is_session)
        super().__init__(self._file.location)
        self.path = self._file.path
        self._seq_file = self.path.with_name(self.path.name + ".seq")
        self._chain_file = self.path.with_name(self.path.name + ".chain")
        self._cost_file: JsonArrayFile | None = None
        self._cost_path = cost_log_for(self.path)

    @property
    def cost_log_path(self) -> Path:
        """The cost log beside the sessions file, named after it."""
        return self._cost_path

    def files(self) -> list[Path]:
        """The sessions file, its cost log and the lock and sequence files beside them."""
        return [*self._file.files(), self._seq_file, self._chain_file, *self._costs_file().files()]

    def _costs_file(self) -> JsonArrayFile:
        if self._cost_file is None:  # opened on first use: a store without costs has no file
            self._take_over_shared_log()
            self._cost_file = JsonArrayFile(self._cost_path, "cost log", _is_entry)
        return self._cost_file

    def _take_over_shared_log(self) -> None:
        """Make an earlier version's shared ``gpt5_cost_log.json`` this store's own log, when
        it provably is: this store has no log yet, no other JSON store lies in the folder,
        and every entry's session is one of this store's. Else leave it as it was and say so.
        The file is renamed under its lock (a hard link, then the old name unlinked), never
        copied or rewritten; if the folder cannot be written, the store reads it where it is.
        """
        shared = self.path.with_name(COST_LOG_NAME)
        if self._cost_path.exists() or not shared.is_file():
            return
        doubt = self._doubt_about(shared)
        if doubt:
            warnings.warn(
                f"The shared cost log {str(shared)!r} of an earlier version was left as it is: "
                f"{doubt}. This store keeps its costs in {str(self._cost_path)!r}; to add the "
                f"shared entries to a store, run m365-toolkit sessions import {str(shared)!r} "
                "--store STORE.",
                UserWarning,
                stacklevel=4,
            )
            return
        try:
            with JsonArrayFile(shared, "cost log", _is_entry).locked():
                os.link(shared, self._cost_path)  # fails if a log appeared meanwhile
                shared.unlink()
        except FileExistsError:
            return
        except (OSError, SessionsError):  # a read-only folder: read the log where it is
            if not self._cost_path.exists():
                self._cost_path = shared

    def _doubt_about(self, shared: Path) -> str:
        """Why ``shared`` may not be this store's alone ("" when it is)."""
        others = [
            seq.name[: -len(".seq")]
            for seq in self.path.parent.glob("*.seq")
            if seq.name != self._seq_file.name
        ]
        if others:
            return f"the folder holds other JSON stores too ({', '.join(sorted(others)[:3])})"
        try:
            entries = JsonArrayFile(shared, "cost log", _is_entry).read()
            ids = {record.get("session_id") for record in self._file.read()}
        except SessionsError as exc:
            return f"it cannot be read ({exc})"
        foreign = [
            entry.get("session_id")
            for entry in entries
            if entry.get("session_id") is not None and entry.get("session_id") not in ids
        ]
        if foreign:
            return f"it holds costs of {len(foreign)} request(s) of sessions not in this store"
        return ""

    @contextmanager
    def _reading(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        yield self._load(sessions, costs)

    @contextmanager
    def _writing(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        with self._file.locked(), self._costs_file().locked():
            # Both files, whatever changes: the next sequence number follows all records.
            state = self._load(True, True)
            loaded = _raw_entries(state)
            yield state
            self._save_last_seq(state.last_seq)
            # Costs first: a crash between the two leaves sessions that a re-run of a prune
            # deletes, never costs of sessions that are gone.
            if costs:
                self._costs_file().write(_entries(state, loaded) + state.damaged_entries)
            if sessions:
                self._file.write(state.sessions + state.damaged)

    @contextmanager
    def _chain_writing(self) -> Iterator[ChainState]:
        """The chain file ``F.chain``, read and replaced whole; only inside :meth:`_writing`.
        A store without one (older, or new) starts a chain with a new id."""
        try:
            text = self._chain_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            chain, before = ChainState.new(), ""
        except OSError as exc:
            raise StoreError(
                f"Cannot read the chain file {str(self._chain_file)!r} of the session store "
                f"{self.location!r}: {exc}.",
                self.location,
            ) from exc
        else:
            try:
                chain, before = ChainState.from_json(text), text
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(
                    f"The chain file {str(self._chain_file)!r} of the session store "
                    f"{self.location!r} is damaged ({exc}); verify cannot vouch for this "
                    "store.",
                    self.location,
                ) from exc
        yield chain
        after = chain.to_json()
        if after != before:
            with atomic_text_file(self._chain_file, "chain file") as file:
                file.write(after)

    def _load(self, sessions: bool, costs: bool) -> MemoryState:
        cost_file = self._costs_file()
        records, damaged = _readable_sessions(
            self._file.read() if sessions else [], self.location, self._file.may_hold_surrogates
        )
        entries, costs_read, damaged_entries = _readable_entries(
            cost_file.read() if costs else [], cost_file.location, cost_file.may_hold_surrogates
        )
        state = MemoryState(records, costs_read, self._last_seq())
        state.raw_entries = entries
        state.damaged, state.damaged_entries = damaged, damaged_entries
        return state

    def _last_seq(self) -> int:
        try:
            return int(self._seq_file.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"Cannot read the sequence file {str(self._seq_file)!r} of the session store "
                f"{self.location!r}: {exc}.",
                self.location,
            ) from exc

    def _save_last_seq(self, seq: int) -> None:
        if seq != self._last_seq():
            with atomic_text_file(self._seq_file, "sequence file") as file:
                file.write(f"{seq}\n")


class JsonCostLog(MemoryCostLog):
    """A cost log file on its own, in the original toolkit's format (a tracker's
    ``log_file``), with no sessions beside it."""

    def __init__(self, path: Path) -> None:
        super().__init__(_CostFile(path))


class _CostFile(MemoryStore):
    """The memory store's cost logic over one cost log file (no chain: no sessions store)."""

    seal_every = None

    def _wrote(self, count: int) -> None:
        """Nothing to seal: a cost log file alone keeps no chain."""

    def __init__(self, path: Path) -> None:
        self._file = JsonArrayFile(path, "cost log", _is_entry)
        super().__init__(self._file.location)

    def files(self) -> list[Path]:
        return self._file.files()

    def _load(self) -> MemoryState:
        entries, records, damaged = _readable_entries(
            self._file.read(), self.location, self._file.may_hold_surrogates
        )
        state = MemoryState([], records)
        state.raw_entries = entries
        state.damaged_entries = damaged
        return state

    @contextmanager
    def _reading(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        yield self._load()

    @contextmanager
    def _writing(self, *, sessions: bool = True, costs: bool = False) -> Iterator[MemoryState]:
        with self._file.locked():
            state = self._load()
            loaded = _raw_entries(state)
            yield state
            self._file.write(_entries(state, loaded) + state.damaged_entries)


def _readable_sessions(
    records: list[Any], location: str, surrogates: bool
) -> tuple[list[Any], list[Any]]:
    """The records a read can use, and the damaged ones (each reported by a warning)."""
    good, damaged, problems = [], [], []
    for record in records:
        problem = record_problem(record)
        if problem is None and surrogates and unencodable(record):
            problem = ("text", "holds a lone surrogate, which is not valid Unicode")
        if problem is None:
            good.append(record)
        else:
            damaged.append(record)
            session_id = record.get("session_id") if isinstance(record, dict) else None
            problems.append(Damage(str(session_id), *problem))
    warn_damaged(problems, location)
    return good, damaged


def _readable_entries(
    entries: list[Any], location: str, surrogates: bool
) -> tuple[list[Any], list[tuple[int | None, CostRecord]], list[Any]]:
    """The cost entries a read can use, as read and as records, and the damaged ones (each
    reported by a warning)."""
    good, records, damaged = [], [], []
    for entry in entries:
        try:
            if surrogates and unencodable(entry):
                raise ValidationError("it holds a lone surrogate, which is not valid Unicode")
            records.append(_cost(entry))
        except SessionsError as exc:
            damaged.append(entry)
            warnings.warn(
                DamagedRecordWarning(
                    f"A cost record in {location!r} is damaged ({exc}). It was left out and "
                    "left untouched.",
                    str(entry.get("session_id")),
                    "cost",
                ),
                stacklevel=2,
            )
        else:
            good.append(entry)
    return good, records, damaged


def _raw_entries(state: MemoryState) -> dict[int, dict[str, Any]]:
    """The file's entries by their record, to write back untouched the ones left as read."""
    return {
        id(record): entry for (_, record), entry in zip(state.costs, state.raw_entries, strict=True)
    }


def _entries(state: MemoryState, loaded: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [loaded.get(id(record)) or _entry(seq, record) for seq, record in state.costs]


def _is_session(item: Any) -> bool:
    return isinstance(item, dict) and "session_id" in item


def _is_entry(item: Any) -> bool:
    return isinstance(item, dict) and {"timestamp", "model", "cost"} <= item.keys()


def _cost(entry: dict[str, Any]) -> tuple[int | None, CostRecord]:
    seq = entry.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise ValidationError(f"seq {seq!r:.40} is not a sequence number")
    return seq, CostRecord.from_entry(entry)


def _entry(seq: int | None, record: CostRecord) -> dict[str, Any]:
    entry = record.to_entry()
    if seq is not None:
        entry["seq"] = seq
    return entry
