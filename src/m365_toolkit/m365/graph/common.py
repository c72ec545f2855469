"""What the client and the sign-in share: the error, and which CA bundle to trust (stdlib only)."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from ... import settings
from ...errors import SessionsError


class GraphError(SessionsError):
    """Microsoft Graph could not be reached at all: no token, or a bad endpoint."""


def ca_bundle(
    configured: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The CA bundle to trust: the configured one, else ``REQUESTS_CA_BUNDLE``, else
    ``SSL_CERT_FILE``; ``None`` for the system store.

    Both names are read so that one setting covers the token requests (azure-identity runs
    on requests, which reads the first) and the Graph requests (httpx2, the second).
    """
    environ = settings.environment() if environ is None else environ
    for value in (configured, environ.get("REQUESTS_CA_BUNDLE"), environ.get("SSL_CERT_FILE")):
        if value and value.strip():
            return value.strip()
    return None


def ssl_context(bundle: str | None) -> ssl.SSLContext | bool:
    """A verifying TLS context trusting ``bundle``, or ``True`` for httpx2's default."""
    return ssl.create_default_context(cafile=bundle) if bundle else True
