"""Time, user and process facts about the machine a session runs on."""

from __future__ import annotations

import functools
import getpass
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import ValidationError
from .values import to_json

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds: fixed width, so strings sort in time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str, what: str = "timestamp") -> datetime:
    """Read an ISO 8601 timestamp; a naive one is taken as local time. Returns UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} {text!r} is not an ISO 8601 timestamp.") from None
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # interpret as local time
        return moment.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        # 0001-01-01T00:00+05:00 is a valid ISO text whose UTC time is before the year 1.
        raise ValidationError(
            f"{what} {text!r} is out of range: in UTC it falls before the year 1 or after 9999."
        ) from None


def detect_user() -> str:
    """The user running this process: ``M365_TOOLKIT_USER``, else the OS login name."""
    explicit = settings.user()
    if explicit:
        return explicit
    return _login_name(*map(settings.environment().get, _LOGIN_VARIABLES))


# What getpass.getuser() reads, in its order; without them it reads the passwd database
# (some 10 µs, on every session a process starts), so its answer is kept for each set of
# their values.
_LOGIN_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


@functools.lru_cache(maxsize=4)
def _login_name(*variables: str | None) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class ThisProcess:
    """This process's pid, kept current across ``fork()``: ``os.getpid()`` is a system call,
    and a store asks on every write whether its connection is this process's."""

    pid = os.getpid()


def _forked() -> None:
    ThisProcess.pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def hostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


def boot_id() -> str | None:
    """This boot of this machine's kernel (Linux), or ``None`` where it cannot be told."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


def pid_namespace() -> str | None:
    """This process's PID namespace (``pid:[4026531836]`` on Linux), or ``None``."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_started(pid: int) -> int | None:
    """When process ``pid`` (as this process's namespace numbers it) started, in clock ticks
    since boot; ``None`` if there is no such process or it cannot be told."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name, in parentheses, may itself hold spaces and parentheses: the fields
    # after it start past the last ")". starttime is field 22 of the line, 20th after it.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def process_identity() -> dict[str, Any] | None:
    """What tells this process apart from any other that ever had its pid: the boot, the PID
    namespace and its start time. ``None`` where the system does not say (no ``/proc``).

    Read once per process (a forked child reads its own): it cannot change while it runs.
    """
    pid = os.getpid()
    if _identity[0] != pid:
        boot, namespace, started = boot_id(), pid_namespace(), process_started(pid)
        found = None
        if boot is not None and namespace is not None and started is not None:
            found = {"boot": boot, "pid_namespace": namespace, "started": started}
        _identity[:] = [pid, found]
    return dict(_identity[1]) if _identity[1] is not None else None


_identity: list[Any] = [None, None]  # [pid, identity] of the process that last asked


def identity_json(process: dict[str, Any]) -> str:
    """``process`` (a session's process identity) as the stores' JSON text.

    Every session a process starts records that process's identity: its text is made once
    and reused for a dict with the very same items, in the same order, ``started`` an int.
    """
    items, plain = list(process.items()), type(process.get("started")) is int
    if plain and items == _identity_text[0]:
        return str(_identity_text[1])
    text = to_json(process)
    if plain and process == process_identity():
        _identity_text[:] = [items, text]
    return text


_identity_text: list[Any] = [None, None]  # [the items of this process's identity, its JSON]


def process_gone(host: str | None, pid: int | None, identity: Any) -> bool | None:
    """Whether the process a session recorded has provably ended.

    ``True`` when it ran on this host, in this boot and this PID namespace, and its pid is
    gone or now belongs to a process that started at another time (a reused pid); ``False``
    when it provably still runs; ``None`` when it cannot be told from here (another host,
    another boot or namespace, e.g. a container, or no identity recorded).
    """
    if host != hostname() or pid is None:
        return None
    if not isinstance(identity, dict):
        if process_identity() is None:  # no /proc here either: a pid check is all there is
            return not process_alive(pid)
        return None
    if identity.get("boot") != boot_id() or identity.get("pid_namespace") != pid_namespace():
        return None
    return process_started(pid) != identity.get("started")


def process_alive(pid: int) -> bool:
    """Tell whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill would terminate the process there; assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
