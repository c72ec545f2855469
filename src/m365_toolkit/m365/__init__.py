"""Microsoft 365 operations as library functions: CIS audits, SharePoint permission analysis,
remediation. No session code inside: callers (the CLI, the MCP server) track them."""
