"""The security dashboard: one offline HTML file (or JSON document) built from the store.

:func:`build` computes the :class:`Dashboard` (compliance trend and drift, operations, LLM
costs) from the store's own queries; :func:`write_dashboard` renders and writes it. The CLI
command ``m365-toolkit report`` and the MCP tool ``get_security_dashboard`` call it.
"""

from .compliance import classify, compare
from .dashboard import FORMATS, WrittenDashboard, build, default_path, render, write_dashboard
from .html import render_html
from .model import DRIFT_CLASSES, SCHEMA, Dashboard
from .operations import percentile

__all__ = [
    "DRIFT_CLASSES",
    "FORMATS",
    "SCHEMA",
    "Dashboard",
    "WrittenDashboard",
    "build",
    "classify",
    "compare",
    "default_path",
    "percentile",
    "render",
    "render_html",
    "write_dashboard",
]
