"""The CIS audit over Microsoft Graph: collect -> snapshot -> evaluate -> results.

- :mod:`.endpoints`: the Graph paths read (``$select`` on users and groups);
- :mod:`.controls`: the catalogue, each control metadata plus a pure check;
- :mod:`.evaluate`: snapshot -> verdicts (skipped on 4xx, error on failure, exceptions);
- :mod:`.snapshot`: the per-run snapshot file; :mod:`.engine`: the run;
- :mod:`.config`: the config file (break-glass accounts, accepted exceptions, sign-in).

The Graph client and sign-in are :mod:`m365_toolkit.m365.graph`, shared by any operation
that reads Graph. No session code here: the CLI and the MCP server track the run.
"""

from .config import (
    DEFAULT_CONFIG,
    ENGINES,
    AcceptedException,
    AuditConfig,
    find_config,
    load_config,
    parse_config,
    resolve_engine,
)
from .controls import BY_ID, CONTROLS
from .engine import GraphAuditRun, collect, evaluate_snapshot, plan, run_graph_audit
from .evaluate import evaluate, select_controls
from .model import GRAPH_STATUSES, Control, Evaluation, Verdict, View
from .snapshot import Snapshot, load_snapshot

__all__ = [
    "BY_ID",
    "CONTROLS",
    "DEFAULT_CONFIG",
    "ENGINES",
    "GRAPH_STATUSES",
    "AcceptedException",
    "AuditConfig",
    "Control",
    "Evaluation",
    "GraphAuditRun",
    "Snapshot",
    "Verdict",
    "View",
    "collect",
    "evaluate",
    "evaluate_snapshot",
    "find_config",
    "load_config",
    "load_snapshot",
    "parse_config",
    "plan",
    "resolve_engine",
    "run_graph_audit",
    "select_controls",
]
