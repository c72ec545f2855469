"""A blocking inter-process lock on a side file, released when the process dies."""

from __future__ import annotations

import errno
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after 10 s; keep waiting like flock does
                continue

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits in the kernel: no polling, no lost wake-ups

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """Exclusive across processes (via the OS) and across threads (via a mutex)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                # Reads take no lock, so a store in a folder this user cannot write can still
                # be queried; only a write gets here and is refused, naming the lock file.
                raise StoreError(
                    f"Cannot write the store: its lock file {str(self.path)!r} cannot be "
                    f"opened ({exc.strerror or exc}).",
                    str(self.path),
                ) from exc
            try:
                _lock(fd)
                try:
                    yield
                finally:
                    _unlock(fd)
            finally:
                os.close(fd)


def os_reason(exc: OSError) -> str:
    """Why the OS refused, naming the part of the path it refused when it said which."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOTDIR or (
        exc.errno == errno.EEXIST and exc.filename and not os.path.isdir(exc.filename)
    ):
        reason = "a part of the path is a file, not a folder"
    elif exc.errno == errno.ENAMETOOLONG:
        reason = "a name in the path is too long for the file system"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only"
    where = exc.filename
    return f"{reason} ({where})" if where and len(str(where)) <= 200 else reason
