"""Replacing a file whole: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, StoreError


@contextmanager
def atomic_text_file(path: Path, what: str = "file") -> Iterator[IO[str]]:
    """A temporary file beside ``path`` that replaces it when the block ends without error.

    The data and the rename are fsynced. On an error the temporary file is deleted and
    ``path`` is left as it was. Its name ``.<name>.<pid>.tmp`` lets a later process find
    and remove the leftovers of a writer that was killed mid-write.

    A symbolic link is written through: its target is replaced and the link stays. A FIFO
    or a character device (``/dev/stdout``, a pipe) is written to as a stream, never
    replaced by a regular file.

    Raises:
        StoreError: The file cannot be written; the message names it as ``what``.
    """
    with _atomic(path, what, {"mode": "w", "encoding": "utf-8", "newline": ""}) as file:
        yield file


@contextmanager
def atomic_binary_file(path: Path, what: str = "file") -> Iterator[IO[bytes]]:
    """:func:`atomic_text_file` for bytes (a workbook, an archive): the same guarantees.

    Raises:
        StoreError: The file cannot be written; the message names it as ``what``.
    """
    with _atomic(path, what, {"mode": "wb"}) as file:
        yield file


@contextmanager
def _atomic(path: Path, what: str, how: dict[str, Any]) -> Iterator[Any]:
    """The one atomic writer behind both: ``how`` is the arguments of ``open()``."""
    shown = path.expanduser().absolute()
    path = Path(os.path.realpath(shown))
    if _is_stream(path):
        try:
            with path.open(**how) as file:
                yield file
        except OSError as exc:
            raise StoreError(f"Cannot write the {what} {str(shown)!r}: {exc}.", str(shown)) from exc
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open(**how) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        fsync_folder(path.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"Cannot write the {what} {str(shown)!r}: {exc}.", str(shown)) from exc
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


def refuse_store_files(target: str | os.PathLike[str], store_files: Iterable[Path]) -> None:
    """Refuse an output path that is one of the store's own files (or a link to one).

    Raises:
        ConfigError: ``target`` names the store or a file beside it that the store keeps.
    """
    wanted = os.path.realpath(Path(target).expanduser())
    for kept in store_files:
        if os.path.realpath(kept) == wanted:
            raise ConfigError(
                f"Refusing to write to {os.fspath(target)!r}: it is the session store's own "
                f"file {str(kept)!r}, and writing there would destroy the audit trail. "
                "Name another output file."
            )


def _is_stream(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)
