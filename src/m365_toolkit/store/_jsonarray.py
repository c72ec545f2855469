"""A JSON array file that is read whole and replaced atomically under an inter-process lock."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from .._util.atomic import atomic_text_file
from .._util.system import process_alive
from ..errors import ConfigError, CorruptStoreError, StoreError
from ._filelock import FileLock, os_reason

Record = dict[str, Any]
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def unencodable(record: Any) -> bool:
    """Whether a record read from JSON holds a lone surrogate (it cannot be written back)."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class JsonArrayFile:
    """The file's records are a JSON array of objects, each checked by ``is_record``.

    Writers hold a lock file beside it and replace the file whole (temporary file, fsync,
    rename), so readers never see half a file and no writer loses another's records.
    """

    def __init__(self, path: Path, what: str, is_record: Callable[[Any], bool]) -> None:
        self.path = path.expanduser().absolute()
        self.location = str(self.path)
        self._what = what
        self._is_record = is_record
        try:
            if self.path.is_dir():
                raise ConfigError(f"The {what} path {self.location!r} is a folder; name a file.")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a path under a file, a name too long, no permission, ...
            raise StoreError(
                f"Cannot open the {what} {self.location!r}: {os_reason(exc)}.", self.location
            ) from exc
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self.may_hold_surrogates = False
        self.read()  # report a corrupt file now, not at the first write
        self._remove_leftovers()

    def read(self) -> list[Record]:
        """The records, without taking the lock (the file is always whole)."""
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise CorruptStoreError(
                f"Cannot read the {self._what} {self.location!r}: {exc}. It was left untouched.",
                self.location,
            ) from exc
        if not text.strip():
            return []
        # A \ud800 escape is valid JSON but reads as a lone surrogate, which no file can be
        # written with: the store then checks each record for one (only then: it costs).
        self.may_hold_surrogates = _SURROGATE_ESCAPE.search(text) is not None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptStoreError(
                f"The {self._what} {self.location!r} is not valid JSON ({exc}). It was left "
                "untouched; repair it or name another file.",
                self.location,
            ) from exc
        if not isinstance(data, list) or not all(map(self._is_record, data)):
            raise CorruptStoreError(
                f"The {self._what} {self.location!r} is not a JSON array of its records. It was "
                "left untouched; name another file.",
                self.location,
            )
        return data

    @contextmanager
    def update(self) -> Iterator[list[Record]]:
        """Read under the lock; the list as changed in the block is written back."""
        with self._lock.held():
            records = self.read()
            yield records
            self.write(records)

    def files(self) -> list[Path]:
        """The file and its lock file."""
        return [self.path, self._lock.path]

    def locked(self) -> AbstractContextManager[None]:
        """The file's lock, held for the block (for a caller that reads and writes itself)."""
        return self._lock.held()

    def _remove_leftovers(self) -> None:
        """Delete temporary files of writers that were killed mid-write (never the file)."""
        for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            pid = leftover.name[len(self.path.name) + 2 : -len(".tmp")]
            if pid.isdigit() and not process_alive(int(pid)):
                leftover.unlink(missing_ok=True)

    def write(self, records: list[Record]) -> None:
        """Replace the file's records (call it with the lock held)."""
        # A damaged record with a lone surrogate is written back as it was read: escaped.
        ascii_if_needed = self.may_hold_surrogates
        body = ",\n".join(
            json.dumps(record, ensure_ascii=ascii_if_needed and unencodable(record))
            for record in records
        )
        with atomic_text_file(self.path, self._what) as file:
            file.write(f"[\n{body}\n]\n" if records else "[]\n")
