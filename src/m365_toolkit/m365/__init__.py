"""Microsoft 365 operations as library functions: CIS audits, SharePoint permission analysis,
remediation. No session code inside: callers (the CLI, the MCP server) track them."""

from ..settings import DEFAULT_AUDIT_TIMEOUT

DEFAULT_TIMEOUT = DEFAULT_AUDIT_TIMEOUT
"""Seconds an audit or remediation script may run before it is stopped."""
