"""``m365-toolkit mcp`` with one extra tool, ``crash``, that fails the way a bug would.

Usage: crashing_mcp.py [mcp options...]; runs the real command (its logging, its store
checks, its server) with the real build_server, wrapped to register the tool.
"""

import sys

from m365_toolkit.cli import main
from m365_toolkit.mcp_server import server as module

real_build_server = module.build_server


def build_server(*args, **kwargs):
    server = real_build_server(*args, **kwargs)

    @server.tool()
    async def crash(times: int = 1) -> dict:
        """Fail with a ZeroDivisionError."""
        return {"ratio": times / 0}

    return server


module.build_server = build_server
sys.argv = ["m365-toolkit", "mcp", *sys.argv[1:]]
main()
