"""A small Microsoft Graph client on httpx2: GETs with paging, retries and a per-run cache.

Not msgraph-sdk: for the few read-only GETs an audit makes, its 400 MB and seconds-long first
request buy nothing (measured, see docs/audit-engine.md). What this client does:

- follows ``@odata.nextLink`` and merges the pages into one ``{"value": [...]}`` body, and
  only on the Graph host it was given, so the token never goes anywhere else;
- retries 429, 503 and 504, honouring ``Retry-After`` and otherwise backing off
  exponentially with jitter, capped in attempts and in total wait;
- bounds how many requests are in flight;
- asks for each URL once per client (one client = one run), concurrent askers share it;
- on a 401 signs in afresh once (a token revoked or expired early) and tries again, then
  reports the 401;
- never raises for an HTTP or network failure: every path gets an :class:`Outcome` with its
  status or error, so a caller can tell "forbidden" (skip) from "broken" (error).
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
import httpx2

from .auth import GraphSettings, build_credential, scrub
from .common import GraphError, ssl_context
from .outcome import Outcome

if TYPE_CHECKING:  # typing only: azure-identity is the optional graph extra
    from azure.core.credentials import AccessToken, TokenCredential

TokenSource = Callable[[], Awaitable[str]]
"""Awaited before each request for the bearer token (it caches and refreshes on its own).

A source may also have ``async refresh(stale: str) -> str``: called once when Graph answers
401 to ``stale``, it must get a new token (not a cached one) unless another request already
replaced ``stale``. Without it, the source is simply asked again.
"""

RETRY_STATUSES = frozenset({429, 503, 504})
_REFRESH_MARGIN = 300.0  # seconds before expiry a token is renewed


@dataclass(frozen=True, slots=True)
class Retry:
    """How a throttled or failing request is retried (Graph's throttling guidance)."""

    attempts: int = 4
    """Tries in all, the first included."""
    total_wait: float = 120.0
    """Seconds one request may spend waiting between tries; a longer wait gives up."""
    base: float = 0.5
    """The first back-off in seconds when the server names no ``Retry-After``; doubles."""
    cap: float = 30.0
    """The longest single back-off without ``Retry-After``."""

    def backoff(self, attempt: int, jitter: float) -> float:
        """The wait after failed try ``attempt`` (1-based): exponential plus up to 1 s jitter."""
        return min(self.cap, self.base * 2.0 ** (attempt - 1)) + jitter


@dataclass(slots=True)
class _Pending:
    done: anyio.Event = field(default_factory=anyio.Event)
    outcome: Outcome | None = None


class GraphClient:
    """Read-only GETs against one Graph endpoint, for one run.

    Args:
        endpoint: The Graph root, e.g. ``https://graph.microsoft.com``.
        token: Awaited for the bearer token before each request.
        concurrency: Requests in flight at most.
        retry: The retry rule for 429, 503, 504 and network errors.
        timeout: Seconds for each HTTP request.
        verify: The TLS context (see :func:`ssl_context`).
        transport: An httpx2 transport, e.g. ``httpx2.MockTransport`` in a test.
        sleep: Awaited to wait between tries (a test can record instead of sleeping).
        jitter: Returns the random part of a back-off, 0 to 1 seconds.
    """

    def __init__(
        self,
        endpoint: str,
        token: TokenSource,
        *,
        concurrency: int = 4,
        retry: Retry | None = None,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {concurrency!r}.")
        self.endpoint = endpoint.rstrip("/")
        self._host = urlsplit(self.endpoint).netloc.lower()
        self._token = token
        self._concurrency = concurrency
        self._retry = retry or Retry()
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx2.AsyncClient(
            timeout=timeout,
            verify=verify,
            transport=transport,
            trust_env=True,  # HTTPS_PROXY / NO_PROXY
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self._limit: anyio.Semaphore | None = None
        self._seen: dict[str, _Pending] = {}
        self.requests = 0
        """HTTP requests made so far, for the caller's statistics."""

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> Outcome:
        """GET ``path`` (e.g. ``/v1.0/domains``) with all its pages; asked once per client."""
        pending = self._seen.get(path)
        if pending is not None:
            await pending.done.wait()
            assert pending.outcome is not None
            return pending.outcome
        pending = self._seen[path] = _Pending()
        try:
            pending.outcome = await self._get_all(path)
        finally:
            if pending.outcome is None:  # cancelled: let a later caller try again
                del self._seen[path]
            pending.done.set()
        return pending.outcome

    async def get_many(self, paths: list[str]) -> dict[str, Outcome]:
        """GET every path concurrently (bounded by ``concurrency``), in the order given."""
        results: dict[str, Outcome] = {}
        if paths:
            await self._token()  # sign in once, before fanning out: a failure raises plainly

        async def one(path: str) -> None:
            results[path] = await self.get(path)

        async with anyio.create_task_group() as group:
            for path in dict.fromkeys(paths):
                group.start_soon(one, path)
        return {path: results[path] for path in dict.fromkeys(paths)}

    async def _get_all(self, path: str) -> Outcome:
        url = f"{self.endpoint}{path}"
        first: dict[str, Any] | None = None
        values: list[Any] = []
        pages = requests = 0
        visited: set[str] = set()
        while True:
            if url in visited:
                return Outcome(path, 200, error=f"Paging looped back to {url}.", pages=pages,
                               requests=requests)  # fmt: skip
            visited.add(url)
            response, error, tries = await self._fetch(url)
            requests += tries
            if response is None:
                return Outcome(path, None, error=error, pages=pages, requests=requests)
            if response.status_code >= 300:
                return Outcome(path, response.status_code, error=_graph_error(response),
                               pages=pages, requests=requests)  # fmt: skip
            try:
                body = response.json()
            except ValueError:
                return Outcome(path, response.status_code, requests=requests, pages=pages,
                               error="The response is not JSON.")  # fmt: skip
            pages += 1
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                return Outcome(path, response.status_code, body, pages=pages, requests=requests)
            values.extend(body["value"])
            if first is None:
                first = {k: v for k, v in body.items() if k not in ("value", "@odata.nextLink")}
            next_link = body.get("@odata.nextLink")
            if not isinstance(next_link, str):
                return Outcome(path, 200, {**first, "value": values}, pages=pages,
                               requests=requests)  # fmt: skip
            if urlsplit(next_link).netloc.lower() != self._host:
                # the bearer token goes to the Graph host only, whatever a body says
                return Outcome(path, 200, error=f"@odata.nextLink leaves {self._host}: "
                               f"{next_link!r}.", pages=pages, requests=requests)  # fmt: skip
            url = next_link

    async def _fetch(self, url: str) -> tuple[httpx2.Response | None, str | None, int]:
        """One URL with retries: (last response or None, network error, tries)."""
        if self._limit is None:
            self._limit = anyio.Semaphore(self._concurrency)
        waited = 0.0
        attempt = 0
        signed_in_again = False
        while True:
            attempt += 1
            response: httpx2.Response | None = None
            error: str | None = None
            token = await self._token()
            async with self._limit:
                self.requests += 1
                try:
                    response = await self._http.get(
                        url, headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx2.TransportError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            if response is not None and response.status_code == 401 and not signed_in_again:
                signed_in_again = True  # once: a second 401 is reported, not retried
                await self._sign_in_again(token)
                continue
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response, None, attempt
            delay = _retry_after(response) if response is not None else None
            if delay is None:
                delay = self._retry.backoff(attempt, self._jitter())
            if attempt >= self._retry.attempts or waited + delay > self._retry.total_wait:
                return response, error, attempt
            await self._sleep(delay)
            waited += delay

    async def _sign_in_again(self, stale: str) -> None:
        refresh = getattr(self._token, "refresh", None)
        if refresh is not None:
            await refresh(stale)


def _retry_after(response: httpx2.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date from now."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _graph_error(response: httpx2.Response) -> str:
    """``HTTP 403 Authorization_RequestDenied: Insufficient privileges…`` from an error body."""
    prefix = f"HTTP {response.status_code}"
    try:
        error = response.json().get("error", {})
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        text = response.text.strip()[:300]
        return f"{prefix}: {text}" if text else prefix
    parts = [str(part) for part in (code, message) if part]
    return f"{prefix} {': '.join(parts)}" if parts else prefix


class AzureTokenSource:
    """Graph tokens from an azure-identity credential, kept until five minutes before expiry.

    The credential is synchronous (its async flavour needs aiohttp), so each token request
    runs in a worker thread and never stalls the event loop.
    """

    def __init__(
        self,
        credential: TokenCredential,
        settings: GraphSettings,
        clock: Any = time.time,
        renew: Callable[[], TokenCredential] | None = None,
    ) -> None:
        self._credential = credential
        self._renew = renew
        self._settings = settings
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock: anyio.Lock | None = None

    async def __call__(self) -> str:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._token is None or self._clock() > self._expires - _REFRESH_MARGIN:
                token = await anyio.to_thread.run_sync(self._get)
                self._token, self._expires = token.token, float(token.expires_on)
            return self._token

    async def refresh(self, stale: str) -> str:
        """A new token after Graph refused ``stale`` (401), unless one already replaced it.

        azure-identity would hand back its cached token, so a new credential (``renew``)
        signs in afresh; without ``renew`` the same credential is asked again.
        """
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._token is None or self._token == stale:
                if self._renew is not None:
                    self._credential = self._renew()
                token = await anyio.to_thread.run_sync(self._get)
                self._token, self._expires = token.token, float(token.expires_on)
            return self._token

    def _get(self) -> AccessToken:
        try:
            return self._credential.get_token(self._settings.cloud.scope)
        except Exception as exc:  # azure-identity raises several unrelated types
            raise GraphError(
                f"Could not get a Microsoft Graph token with the {self._settings.credential} "
                f"credential for tenant {self._settings.tenant_id!r} from "
                f"{self._settings.cloud.authority_host}: {scrub(exc, self._settings)}"
            ) from None


def open_client(settings: GraphSettings, **options: Any) -> GraphClient:
    """A :class:`GraphClient` signed in as ``settings`` say, trusting their CA bundle.

    Args:
        settings: Where and how to sign in.
        options: More :class:`GraphClient` arguments (``retry``, ``sleep``, ...).

    Raises:
        ConfigError: azure-identity is not installed.
    """
    source = AzureTokenSource(
        build_credential(settings), settings, renew=lambda: build_credential(settings)
    )
    options.setdefault("concurrency", settings.concurrency)
    options.setdefault("timeout", settings.timeout)
    options.setdefault("verify", ssl_context(settings.ca_bundle))
    return GraphClient(settings.cloud.graph_endpoint, source, **options)
