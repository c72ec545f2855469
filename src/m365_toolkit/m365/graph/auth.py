"""Signing in to Microsoft Graph with azure-identity: which credential, which cloud, the token.

Settings come from the config file's ``[graph]`` table, else azure-identity's own variables
(``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``,
``AZURE_CLIENT_CERTIFICATE_PATH``, ``AZURE_CLIENT_CERTIFICATE_PASSWORD``,
``AZURE_AUTHORITY_HOST``). A secret is held in a field that is left out of ``repr`` and of
:meth:`GraphSettings.describe` (what the trail records), and is cut out of any error text.

azure-identity is imported inside :func:`build_credential`, like a database driver: it is
the ``graph`` extra, and the engine's import stays fast without it. This module is stdlib
only, so the CLI can read settings on a base install.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ... import settings
from ...errors import ConfigError
from .clouds import CLOUDS, Cloud, resolve_cloud
from .common import ca_bundle

CREDENTIAL_KINDS = ("secret", "certificate", "default")


if TYPE_CHECKING:  # typing only: azure-identity is the optional graph extra
    from azure.core.credentials import TokenCredential


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """How to reach and sign in to Graph. Secrets are never shown (``repr=False``)."""

    tenant_id: str | None
    client_id: str | None
    credential: str
    """``secret``, ``certificate`` or ``default`` (DefaultAzureCredential)."""
    cloud: Cloud
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_password: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    concurrency: int = 4
    timeout: float = 30.0

    @classmethod
    def resolve(
        cls,
        section: Mapping[str, Any] | None = None,
        *,
        cloud: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> GraphSettings:
        """Settings from a config ``[graph]`` table, then azure-identity's variables.

        Args:
            section: The ``[graph]`` table of the config file, if any.
            cloud: ``--cloud``, which wins over the table's ``cloud``.
            environ: The environment to read azure-identity's variables from.

        Raises:
            ConfigError: an unknown key, credential kind or cloud, or a credential that
                lacks what it needs.
        """
        environ = settings.environment() if environ is None else environ
        table = dict(section or {})
        unknown = set(table) - _KEYS
        if unknown:
            raise ConfigError(
                f"Unknown key(s) in [graph]: {', '.join(sorted(unknown))}; "
                f"known are {', '.join(sorted(_KEYS))}."
            )

        def pick(key: str, variable: str | None = None) -> str | None:
            value = table.get(key)
            if value is None and variable is not None:
                value = environ.get(variable)
            return str(value).strip() or None if value is not None else None

        secret = pick("client_secret", "AZURE_CLIENT_SECRET")
        certificate = pick("certificate_path", "AZURE_CLIENT_CERTIFICATE_PATH")
        kind = pick("credential") or (
            "secret" if secret else "certificate" if certificate else "default"
        )
        if kind not in CREDENTIAL_KINDS:
            raise ConfigError(
                f"credential must be one of {', '.join(CREDENTIAL_KINDS)}, not {kind!r}."
            )
        found = cls(
            tenant_id=pick("tenant_id", "AZURE_TENANT_ID"),
            client_id=pick("client_id", "AZURE_CLIENT_ID"),
            credential=kind,
            cloud=resolve_cloud(
                cloud or pick("cloud") or "global",
                authority_host=_https(pick("authority_host", "AZURE_AUTHORITY_HOST")),
                graph_endpoint=pick("graph_endpoint"),
            ),
            client_secret=secret,
            certificate_path=certificate,
            certificate_password=pick("certificate_password", "AZURE_CLIENT_CERTIFICATE_PASSWORD"),
            ca_bundle=ca_bundle(pick("ca_bundle"), environ),
            concurrency=_number(table, "concurrency", 4, int),
            timeout=_number(table, "timeout", 30.0, float),
        )
        found._check()
        return found

    def _check(self) -> None:
        if self.credential == "default":
            return
        missing = [name for name in ("tenant_id", "client_id") if not getattr(self, name)]
        if self.credential == "secret" and not self.client_secret:
            missing.append("client_secret (or AZURE_CLIENT_SECRET)")
        if self.credential == "certificate" and not self.certificate_path:
            missing.append("certificate_path (or AZURE_CLIENT_CERTIFICATE_PATH)")
        if missing:
            raise ConfigError(
                f"The {self.credential} credential needs {', '.join(missing)}; set them in "
                "the config file's [graph] table or azure-identity's AZURE_* variables."
            )

    def describe(self) -> dict[str, Any]:
        """What may be recorded about these settings: never a secret or a password."""
        return {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "sign_in_with": self.credential,  # a key naming "credential" would be redacted
            "cloud": self.cloud.name,
            "authority_host": self.cloud.authority_host,
            "graph_endpoint": self.cloud.graph_endpoint,
            "certificate_path": self.certificate_path,
            "ca_bundle": self.ca_bundle,
        }

    def secrets(self) -> tuple[str, ...]:
        """The secret values, for cutting out of error text."""
        return tuple(v for v in (self.client_secret, self.certificate_password) if v)


_KEYS = frozenset(
    {
        "tenant_id", "client_id", "credential", "client_secret", "certificate_path",
        "certificate_password", "cloud", "authority_host", "graph_endpoint", "ca_bundle",
        "concurrency", "timeout",
    }
)  # fmt: skip


def graph_configured(
    section: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether Graph credentials are set up: a ``[graph]`` table, or an app in the environment.

    Managed identity cannot be detected without asking the network; name it with
    ``credential = "default"`` in the table.
    """
    if section:
        return True
    environ = settings.environment() if environ is None else environ
    return bool(environ.get("AZURE_TENANT_ID") and environ.get("AZURE_CLIENT_ID"))


def build_credential(settings: GraphSettings) -> TokenCredential:
    """The azure-identity credential these settings name.

    Raises:
        ConfigError: azure-identity is not installed (the ``graph`` extra).
    """
    try:
        from azure import identity
    except ImportError as exc:
        raise ConfigError(
            f"The Graph engine needs the graph extra ({exc.name} is missing): "
            "pip install 'm365-security-toolkit[graph]'."
        ) from None
    common: dict[str, Any] = {"authority": settings.cloud.authority_host}
    if settings.ca_bundle:
        common["connection_verify"] = settings.ca_bundle
    known = {cloud.authority_host for cloud in CLOUDS.values()}
    if settings.cloud.authority_host not in known:
        # MSAL otherwise asks login.microsoftonline.com to validate a custom authority
        common["disable_instance_discovery"] = True
    tenant, client = settings.tenant_id or "", settings.client_id or ""  # checked by resolve()
    if settings.credential == "secret":
        return identity.ClientSecretCredential(
            tenant, client, settings.client_secret or "", **common
        )
    if settings.credential == "certificate":
        return identity.CertificateCredential(
            tenant,
            client,
            settings.certificate_path,
            password=settings.certificate_password,
            **common,
        )
    if settings.client_id:
        common["managed_identity_client_id"] = settings.client_id
    return identity.DefaultAzureCredential(**common)


def scrub(exc: BaseException, settings: GraphSettings) -> str:
    """The first lines of an error's text with every secret value cut out."""
    text = " ".join(str(exc).split())[:600] or type(exc).__name__
    for secret in settings.secrets():
        text = text.replace(secret, "[REDACTED]")
    return text


def _number(table: Mapping[str, Any], key: str, default: float, kind: type) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"[graph] {key} must be a positive number, not {value!r}.")
    return kind(value)


def _https(host: str | None) -> str | None:
    """azure-identity accepts a bare host in ``AZURE_AUTHORITY_HOST``; MSAL wants https."""
    if host and "://" not in host:
        return f"https://{host}"
    return host
