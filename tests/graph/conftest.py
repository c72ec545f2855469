"""The fake Graph on loopback HTTPS, and configs that point the engine at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .fakegraph import CLIENT_ID, CLIENT_SECRET, FakeGraph, Server, make_certificate
from .tenants import TENANT_ID

_PROXY_AND_AZURE = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_AUTHORITY_HOST",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, CA or Azure setting of the machine leaks into a test."""
    for name in _PROXY_AND_AZURE:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def graph(certificate: tuple[Path, Path]) -> Iterator[FakeGraph]:
    fake = FakeGraph()
    with Server(fake, *certificate):
        yield fake


@pytest.fixture
def graph_table(graph: FakeGraph, certificate: tuple[Path, Path]) -> dict[str, Any]:
    """A ``[graph]`` table signing in with a client secret to the fake, trusting its cert."""
    return {
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authority_host": graph.base_url,
        "graph_endpoint": graph.base_url,
        "ca_bundle": str(certificate[0]),
    }
