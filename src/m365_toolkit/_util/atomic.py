"""Replacing a file whole: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import StoreError


@contextmanager
def atomic_text_file(path: Path, what: str = "file") -> Iterator[IO[str]]:
    """A temporary file beside ``path`` that replaces it when the block ends without error.

    The data and the rename are fsynced. On an error the temporary file is deleted and
    ``path`` is left as it was. Its name ``.<name>.<pid>.tmp`` lets a later process find
    and remove the leftovers of a writer that was killed mid-write.

    Raises:
        StoreError: The file cannot be written; the message names it as ``what``.
    """
    path = path.expanduser().absolute()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"Cannot write the {what} {str(path)!r}: {exc}.", str(path)) from exc
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
