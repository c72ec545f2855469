"""A fake Microsoft Graph and Entra token endpoint, over real HTTPS on loopback.

One threaded ``http.server`` serves both: azure-identity's client-secret flow (OpenID
discovery, then the token POST) and the Graph paths of a fixture tenant, with paging,
scripted throttling and a record of every request. The TLS certificate is generated per
test session; the client trusts it through a CA bundle, as behind a TLS-inspecting proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from m365_toolkit.m365.graph import Outcome

CLIENT_ID = "app-0000-1111"
CLIENT_SECRET = "s3cret-Value~that-must-never-leak"
TOKEN = "eyJ.fake-access-token.sig"


def make_certificate(folder: Path, *, rsa_key: bool = False) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem).

    EC by default (fast); RSA for an app certificate, which MSAL signs with RS256.
    """
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-graph.test")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class Reply:
    """A scripted answer served before the tenant's real one (throttling, failures)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class FakeGraph:
    """The server's state: the tenant, its paging, its scripts, and what was asked."""

    tenant: dict[str, Any] = field(default_factory=dict)
    page_size: int | None = None
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: list[str] = field(default_factory=list)
    """Access tokens the token endpoint handed out: TOKEN first, then TOKEN.2, ..."""
    revoked: set[str] = field(default_factory=set)
    """Tokens Graph answers 401 to (expired early, revoked)."""
    reject_every_token: bool = False

    def issue(self) -> str:
        with self.lock:
            token = TOKEN if not self.issued else f"{TOKEN}.{len(self.issued) + 1}"
            self.issued.append(token)
            return token

    def accepts(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        with self.lock:
            issued = self.issued or [TOKEN]  # a client given a token directly
            return not self.reject_every_token and token in issued and token not in self.revoked

    def graph_requests(self) -> list[str]:
        return [path for method, path in self.requests if path.startswith(("/v1.0", "/beta"))]

    def answer(self, path: str) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            script = self.scripts.get(path)
            if script:
                reply = script.pop(0)
                return reply.status, reply.headers, reply.body
        base, skip = path, ""
        for marker in ("&$skiptoken=", "?$skiptoken="):
            if marker in path:
                base, _, skip = path.partition(marker)
        if base not in self.tenant:
            return (
                404,
                {},
                {
                    "error": {
                        "code": "Request_ResourceNotFound",
                        "message": f"No {base} in this fake.",
                    }
                },
            )
        body = self.tenant[base]
        if isinstance(body, Outcome):
            code, _, message = (body.error or "").partition(": ")
            return (
                body.status or 500,
                {},
                {"error": {"code": code.split()[-1] if code else "", "message": message}},
            )
        if self.page_size and isinstance(body, dict) and isinstance(body.get("value"), list):
            start = int(skip or 0)
            page = dict(body, value=body["value"][start : start + self.page_size])
            if start + self.page_size < len(body["value"]):
                joiner = "&" if "?" in base else "?"
                page["@odata.nextLink"] = (
                    f"{self.base_url}{base}{joiner}$skiptoken={start + self.page_size}"
                )
            return 200, {}, page
        return 200, {}, body


def _handler(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = unquote(self.path)
            fake.requests.append(("GET", path))
            if path.endswith("/v2.0/.well-known/openid-configuration"):
                tenant = path.split("/")[1]
                base = f"{fake.base_url}/{tenant}"
                self._send(
                    200,
                    {
                        "token_endpoint": f"{base}/oauth2/v2.0/token",
                        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                        "issuer": f"{base}/v2.0",
                    },
                )
                return
            if not fake.accepts(self.headers.get("Authorization")):
                self._send(
                    401,
                    {
                        "error": {
                            "code": "InvalidAuthenticationToken",
                            "message": "Lifetime validation failed, the token is expired.",
                        }
                    },
                )
                return
            status, headers, body = fake.answer(path)
            self._send(status, body, headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            fake.requests.append(("POST", self.path))
            fake.token_requests.append(form)
            # a client secret, or a certificate's signed assertion (its signature is not
            # checked: the point is that azure-identity built and sent one)
            assertion = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            signed = bool(form.get("client_assertion")) and form.get("client_assertion_type") == [
                assertion
            ]
            secret = form.get("client_secret") == [CLIENT_SECRET]
            if form.get("client_id") != [CLIENT_ID] or not (signed or secret):
                self._send(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret.",
                    },
                )
                return
            self._send(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": fake.issue(),
                },
            )

    return Handler


class _Listener(ThreadingHTTPServer):
    # A client that opens many connections at once (msgraph-sdk in bench_graph) overflows
    # socketserver's backlog of 5: its connects are dropped and time out.
    request_queue_size = 128


class Server:
    """Runs a :class:`FakeGraph` on ``https://127.0.0.1:<port>`` in a thread."""

    def __init__(self, fake: FakeGraph, cert: Path, key: Path) -> None:
        import ssl

        self.fake = fake
        self.httpd = _Listener(("127.0.0.1", 0), _handler(fake))
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        # The handshake happens in each connection's own thread, on its first read: done in
        # accept(), one slow client would hold up every other connection.
        self.httpd.socket = context.wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        fake.base_url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class ConnectProxy:
    """An HTTPS proxy on loopback: answers CONNECT and pipes bytes, counting the tunnels."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_CONNECT(self) -> None:
                import select
                import socket

                host, _, port = self.path.rpartition(":")
                proxy.tunnels.append(self.path)
                upstream = socket.create_connection((host, int(port)))
                self.send_response(200, "Connection established")
                self.end_headers()
                sockets = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 5)
                        if not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
