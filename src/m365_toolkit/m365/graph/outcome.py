"""What one Graph path gave: kept apart from the client so evaluating needs no HTTP package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one Graph path gave: the body (all pages merged) or the status and error."""

    path: str
    status: int | None
    """The HTTP status of the last response, ``None`` when no response came at all."""
    body: Any = None
    error: str | None = None
    """Graph's error code and message, or the network error; ``None`` when it worked."""
    pages: int = 0
    requests: int = 0
    """HTTP requests made, retries and pages included."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        """The snapshot's record of this path."""
        data: dict[str, Any] = {"status": self.status, "pages": self.pages}
        data["requests"] = self.requests
        if self.ok:
            data["body"] = self.body
        else:
            data["error"] = self.error
        return data

    @classmethod
    def from_json(cls, path: str, data: Mapping[str, Any]) -> Outcome:
        """The inverse of :meth:`to_json`."""
        status = data.get("status")
        return cls(
            path=path,
            status=status if isinstance(status, int) else None,
            body=data.get("body"),
            error=data.get("error"),
            pages=int(data.get("pages") or 0),
            requests=int(data.get("requests") or 0),
        )
