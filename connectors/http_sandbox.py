"""What every bundled HTTP sandbox (Salesforce, Marketo, Eloqua) shares: a Starlette app served by uvicorn on
loopback in a background thread, optional TLS from a trustme CA, and generic fault switches.

A vendor sandbox builds its own Starlette app (its routes, its wire format, its own errors and limits) and
hands it to `HttpSandbox`:

    with HttpSandbox(app, tls=True) as server:
        server.url              # "https://127.0.0.1:54321"
        server.ca_pem_path      # trust this CA (requests: REQUESTS_CA_BUNDLE, see API_FACTS §0)
        server.faults.fail_next(2, status=503)          # the next two requests answer 503
        server.faults.latency_s = 0.5                   # every request waits half a second

Vendor-specific faults (an expired token, a daily quota, a bad record in a batch) belong to the vendor's
sandbox state; the switches here are the ones every HTTP service shows: server errors, slowness, dropped
connections.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from types import TracebackType
from typing import Self

import trustme
import uvicorn
from leadsync.connectors.loopback_ports import free_port
from starlette.types import ASGIApp, Receive, Scope, Send

# Host names the sandbox certificate is valid for. Loopback names, plus the vendors' own hosts so a client
# whose transport is redirected to the sandbox still sees a certificate for the name it asked for.
CERT_NAMES = (
    "127.0.0.1", "localhost", "::1", "127.0.0.2", "127.0.0.3", "127.0.0.4",  # `leadsync sandbox --vendor-hosts`
    "login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com",
    "*.mktorest.com", "login.eloqua.com", "*.eloqua.com",
)


@dataclass
class InjectedFault:
    status: int
    body: bytes
    content_type: str
    path_prefix: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Gate:
    """A request held at the door: `reached` is set when a matching request arrives, which then waits until
    `release()` and goes on to the vendor app as usual (even if its client has gone meanwhile). Tests use
    it to kill a worker while its call is in flight, at a known point."""

    path_contains: str
    method: str | None
    skip: int
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def wait_reached(self, timeout_s: float) -> bool:
        return self.reached.wait(timeout_s)

    def release(self) -> None:
        self.released.set()


class FaultSwitches:
    """Generic faults, applied by `FaultMiddleware` before the vendor app sees the request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: deque[InjectedFault] = deque()
        self._gates: list[Gate] = []
        self.latency_s: float = 0.0
        self._drop_next = 0
        self._lost_answers: list[tuple[str, str | None]] = []
        self.requests_seen = 0

    def hold_next(self, path_contains: str, method: str | None = None, skip: int = 0) -> Gate:
        """Hold the next request whose path contains `path_contains` (and whose method is `method`), after
        letting `skip` such requests through, until the returned gate is released."""
        gate = Gate(path_contains, method.upper() if method else None, skip)
        with self._lock:
            self._gates.append(gate)
        return gate

    def _gate_for(self, path: str, method: str) -> Gate | None:
        with self._lock:
            for gate in self._gates:
                if gate.path_contains in path and gate.method in (None, method):
                    if gate.skip:
                        gate.skip -= 1
                        return None
                    self._gates.remove(gate)
                    return gate
        return None

    def fail_next(self, times: int = 1, status: int = 503, body: object = None,
                  path_prefix: str | None = None, headers: dict[str, str] | None = None) -> None:
        """The next `times` requests (under `path_prefix`, if given) answer `status` with `body`
        (a str/bytes as-is, anything else as JSON)."""
        if body is None:
            body = {"error": "Service Unavailable"} if status >= 500 else {"error": f"HTTP {status}"}
        if isinstance(body, bytes):
            raw, ctype = body, "text/plain"
        elif isinstance(body, str):
            raw, ctype = body.encode(), "text/plain"
        else:
            raw, ctype = json.dumps(body).encode(), "application/json"
        with self._lock:
            for _ in range(times):
                self._queued.append(InjectedFault(status, raw, ctype, path_prefix, dict(headers or {})))

    def drop_next(self, times: int = 1) -> None:
        """Close the connection without answering the next `times` requests (a dropped connection)."""
        with self._lock:
            self._drop_next += times

    def drop_response_next(self, path_contains: str, method: str | None = None) -> None:
        """The next request whose path contains `path_contains` (and whose method is `method`) is carried out
        by the vendor app as usual, then its answer is lost: the connection drops mid-response. The client
        cannot tell whether its write landed (it did): what a retry after a network failure must cope with."""
        with self._lock:
            self._lost_answers.append((path_contains, method.upper() if method else None))

    @property
    def answers_to_lose(self) -> int:
        """Lost answers asked for (drop_response_next) whose request has not come yet."""
        with self._lock:
            return len(self._lost_answers)

    def _answer_lost(self, path: str, method: str) -> bool:
        with self._lock:
            for i, (contains, wanted) in enumerate(self._lost_answers):
                if contains in path and wanted in (None, method):
                    del self._lost_answers[i]
                    return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._lost_answers.clear()
            self._drop_next = 0
            self.latency_s = 0.0
            for gate in self._gates:
                gate.release()
            self._gates.clear()

    def _take(self, path: str) -> InjectedFault | str | None:
        with self._lock:
            self.requests_seen += 1
            if self._drop_next:
                self._drop_next -= 1
                return "drop"
            for i, fault in enumerate(self._queued):
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    del self._queued[i]
                    return fault
        return None


async def _broken_answer(send: Send) -> None:
    """Promise a body and send none: uvicorn then closes the socket mid-response, which clients see as a broken
    connection (requests: ChunkedEncodingError / ProtocolError), as on a real drop."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": False})


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: FaultSwitches):
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        fault = self.faults._take(scope["path"])
        if fault == "drop":
            await _broken_answer(send)
            return
        if fault is None and self.faults._answer_lost(scope["path"], scope.get("method", "GET")):
            async def swallow(message) -> None:  # the app's answer, never delivered
                pass

            await self.app(scope, receive, swallow)
            await _broken_answer(send)
            return
        gate = self.faults._gate_for(scope["path"], scope.get("method", "GET"))
        if gate is not None:
            gate.reached.set()
            while not gate.released.is_set():
                await asyncio.sleep(0.02)
        if isinstance(fault, InjectedFault):
            headers = [(b"content-type", fault.content_type.encode()),
                       (b"content-length", str(len(fault.body)).encode())]
            headers += [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": fault.body})
            return
        await self.app(scope, receive, send)


# Header names as the vendors write them. Starlette hands uvicorn lower-case names; a vendor's server writes
# Content-Type, Sforce-Limit-Info, ... and some clients look headers up case-sensitively. Names not listed
# are capitalised per dash-separated word (Content-Length, Retry-After).
HEADER_NAMES = {name.lower().encode(): name.encode() for name in (
    "Sforce-NumberOfRecords", "Sforce-Locator", "Sforce-Limit-Info", "WWW-Authenticate", "ETag",
    "X-SFDC-Request-Id", "X-Content-Type-Options", "X-XSS-Protection", "X-Frame-Options", "X-Request-Id",
)}


def vendor_case(name: bytes) -> bytes:
    known = HEADER_NAMES.get(name.lower())
    if known is not None:
        return known
    return b"-".join(part[:1].upper() + part[1:].lower() for part in name.split(b"-"))


class HeaderCaseMiddleware:
    """Writes response header names in the vendor's casing and adds the Date header (uvicorn's own
    `date`/`server` headers are off: they would go out lower-case). Served with uvicorn's h11 protocol,
    which keeps the names' case; its httptools protocol lower-cases every name."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def cased(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(vendor_case(k), v) for k, v in message.get("headers", [])]
                if not any(k == b"Date" for k, _ in headers):
                    headers.insert(0, (b"Date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, cased)


class SandboxTls:
    """A trustme CA and a server certificate for `CERT_NAMES`, written to a folder. A CA already kept in the
    folder (`sandbox-ca.pem` with `sandbox-ca-key.pem`) is reused, so sandboxes started on the same folder,
    or again later, share the one CA a user trusts once; each sandbox `name` gets its own leaf files."""

    def __init__(self, folder: Path, name: str = "sandbox"):
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_pem_path = folder / "sandbox-ca.pem"
        ca_key_path = folder / "sandbox-ca-key.pem"
        if self.ca_pem_path.exists() and ca_key_path.exists():
            ca = trustme.CA.from_pem(self.ca_pem_path.read_bytes(), ca_key_path.read_bytes())
        else:
            ca = trustme.CA(organization_name="leadsync sandboxes")
            ca.private_key_pem.write_to_path(str(ca_key_path))
            ca_key_path.chmod(0o600)
            ca.cert_pem.write_to_path(str(self.ca_pem_path))
        cert = ca.issue_cert(*CERT_NAMES)
        self.cert_chain_path = folder / f"{name}-cert.pem"
        self.key_path = folder / f"{name}-key.pem"
        cert.private_key_pem.write_to_path(str(self.key_path))
        # The chain file holds the leaf and any intermediates; uvicorn wants it as one file.
        with open(self.cert_chain_path, "wb") as out:
            out.writelines(blob.bytes() for blob in cert.cert_chain_pems)


class HttpSandbox:
    """Serves an ASGI app on 127.0.0.1 in a background thread (a real socket; any HTTP client can reach it)."""

    def __init__(self, app: ASGIApp, *, port: int = 0, host: str = "127.0.0.1", tls: bool = False,
                 tls_dir: Path | None = None, name: str = "sandbox"):
        self.faults = FaultSwitches()
        self._app = HeaderCaseMiddleware(FaultMiddleware(app, self.faults))
        self.host = host
        self.port = port or free_port(host)
        self.name = name
        self.tls: SandboxTls | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if tls:
            if tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix=f"leadsync-{name}-tls-")
                tls_dir = Path(self._tmp.name)
            self.tls = SandboxTls(tls_dir, name)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def ca_pem_path(self) -> Path | None:
        return self.tls.ca_pem_path if self.tls else None

    def start(self) -> Self:
        config = uvicorn.Config(
            self._app, host=self.host, port=self.port, log_level="warning", access_log=False,
            lifespan="off", timeout_keep_alive=30, timeout_graceful_shutdown=1, http="h11",
            server_header=False, date_header=False,
            ssl_certfile=str(self.tls.cert_chain_path) if self.tls else None,
            ssl_keyfile=str(self.tls.key_path) if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} sandbox failed to start on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} sandbox did not start within 15 s on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=1)
            if self._thread.is_alive() and self._server is not None:
                # an idle keep-alive (TLS close_notify) connection can hold a graceful shutdown: don't wait
                self._server.force_exit = True
                self._thread.join(timeout=10)
        self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def serve_forever(self) -> None:
        """Foreground mode for `python -m leadsync.connectors.<vendor>.sandbox` (Ctrl-C stops)."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


