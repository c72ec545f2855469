"""The MCP server: the toolkit's operations for AI assistants, each call tracked as a session."""

from .server import AppState, build_server

__all__ = ["AppState", "build_server"]
