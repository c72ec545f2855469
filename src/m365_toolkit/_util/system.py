"""Time, user and process facts about the machine a session runs on."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from .. import settings
from ..errors import ValidationError

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
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def hostname() -> str:
    """This machine's host name."""
    return socket.gethostname()


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
