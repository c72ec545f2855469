"""The Microsoft clouds: where each signs in (authority) and where its Graph lives.

``usgov`` is GCC, which runs on the commercial cloud's endpoints; GCC High and DoD have their
own. Sources: learn.microsoft.com/graph/deployments and azure-identity's ``AzureAuthorityHosts``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError


@dataclass(frozen=True, slots=True)
class Cloud:
    """A national cloud: its name, sign-in authority host and Microsoft Graph endpoint."""

    name: str
    authority_host: str
    graph_endpoint: str

    @property
    def scope(self) -> str:
        """The app-only scope a token for this cloud's Graph is asked with."""
        return f"{self.graph_endpoint.rstrip('/')}/.default"


CLOUDS: dict[str, Cloud] = {
    "global": Cloud("global", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": Cloud("usgov", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgovhigh": Cloud(
        "usgovhigh", "https://login.microsoftonline.us", "https://graph.microsoft.us"
    ),
    "dod": Cloud("dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": Cloud(
        "china", "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"
    ),
}


def resolve_cloud(
    name: str = "global",
    *,
    authority_host: str | None = None,
    graph_endpoint: str | None = None,
) -> Cloud:
    """The cloud ``name``, with its authority host or Graph endpoint replaced when given.

    A replaced endpoint is for a sovereign cloud not in the table, or a test's stand-in;
    both must be https (MSAL refuses anything else for the authority).

    Raises:
        ConfigError: the name is unknown or an endpoint is not an https URL.
    """
    try:
        cloud = CLOUDS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown cloud {name!r}; choose one of {', '.join(CLOUDS)}, or give "
            "authority_host and graph_endpoint for another."
        ) from None
    for label, value in (("authority_host", authority_host), ("graph_endpoint", graph_endpoint)):
        if value is not None and not value.startswith("https://"):
            raise ConfigError(f"{label} must be an https URL, not {value!r}.")
    return Cloud(
        cloud.name if authority_host is None and graph_endpoint is None else f"{cloud.name}+custom",
        (authority_host or cloud.authority_host).rstrip("/"),
        (graph_endpoint or cloud.graph_endpoint).rstrip("/"),
    )
