"""Microsoft 365 operations as library functions: CIS audits, SharePoint permission analysis,
remediation. No session code inside: callers (the CLI, the MCP server) track them."""

DEFAULT_TIMEOUT = 30 * 60.0
"""Seconds an audit or remediation script may run before it is stopped."""
