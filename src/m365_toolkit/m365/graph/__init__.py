"""Microsoft Graph access of our own: a small httpx2 client, the clouds, azure-identity sign-in.

Nothing here knows about CIS or audits; the audit engine (:mod:`..audit.graph`) and any later
operation that reads Graph share it. The package itself holds only the light parts;
import :mod:`.client` (httpx2) and :mod:`.auth` (azure-identity, inside a function) by
name, so that evaluating a saved snapshot loads no HTTP stack.
"""

from .clouds import CLOUDS, Cloud, resolve_cloud
from .common import GraphError, ca_bundle, ssl_context
from .outcome import Outcome

__all__ = [
    "CLOUDS",
    "Cloud",
    "GraphError",
    "Outcome",
    "ca_bundle",
    "resolve_cloud",
    "ssl_context",
]
