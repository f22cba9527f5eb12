"""Recorded-response tests: each vendor's documented answers (status, headers, body), kept as data files
beside this one (salesforce.json, marketo.json, eloqua.json, with the documentation they come from), replayed
by a small HTTP server on a loopback socket to the real connector, unchanged. The tests assert what the user
sees: the error class, how many requests went out (no new bulk job per retry, no write repeated) and the
watermark.

    replay.on("POST", r"/jobs/query$", answer("salesforce", "bulk_job_created"))
    replay.on("GET", r"/jobs/query/750", answer("salesforce", "bulk_job_in_progress"), answer(..., "failed"))
    ... drive the connector at replay.url ...
    assert replay.count("POST", r"/jobs/query$") == 1

A route answers its responses in turn and repeats the last one; a request no route matches answers 599 and
fails the test when it is checked. "{base}" in a recorded body is the server's own URL.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus, urlsplit

from leadsync.connectors.api_client import RetryPolicy

RECORDED = Path(__file__).parent
FAST_RETRY = RetryPolicy(attempts=3, initial_s=0.01, max_s=0.02)


def answer(vendor: str, name: str, **overrides) -> dict:
    """A recorded response of `vendor`'s data file, with fields replaced (status, headers, json, text,
    delay_s)."""
    recorded = json.loads((RECORDED / f"{vendor}.json").read_text())["responses"][name]
    return {**recorded, **overrides}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    responses: list[dict]
    query: re.Pattern | None = None
    served: int = 0

    def matches(self, seen: Seen, raw_query: str) -> bool:
        return self.method == seen.method and bool(self.pattern.search(seen.path)) and \
            (self.query is None or bool(self.query.search(unquote_plus(raw_query))))

    def next(self) -> dict:
        response = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        return response


@dataclass
class Replay:
    url: str = ""
    routes: list[Route] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, method: str, path: str, *responses: dict, query: str | None = None) -> Replay:
        """Answer `method` requests whose path matches the regular expression `path` (and whose decoded query
        string matches `query`, when given) with `responses` in turn, the last one repeating. A later route
        for the same request wins (a test can override a default)."""
        self.routes.insert(0, Route(method.upper(), re.compile(path), list(responses),
                                    re.compile(query) if query else None))
        return self

    def count(self, method: str, path: str) -> int:
        return len(self.requests(method, path))

    def requests(self, method: str, path: str) -> list[Seen]:
        pattern = re.compile(path)
        return [s for s in self.seen if s.method == method.upper() and pattern.search(s.path)]

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        seen = Seen(handler.command, parts.path, parse_qs(parts.query), body, dict(handler.headers.items()))
        with self.lock:
            self.seen.append(seen)
            route = next((r for r in self.routes if r.matches(seen, parts.query)), None)
            response = route.next() if route is not None else None
        if response is None:
            self.unmatched.append(f"{seen.method} {handler.path}")
            response = {"status": 599, "text": f"no recorded response for {seen.method} {parts.path}"}
        if response.get("delay_s"):
            time.sleep(response["delay_s"])
        if "json" in response:
            payload = json.dumps(response["json"]).replace("{base}", self.url).encode()
            content_type = "application/json;charset=UTF-8"
        else:
            payload = str(response.get("text", "")).replace("{base}", self.url).encode()
            content_type = "text/plain;charset=UTF-8"
        headers = {"Content-Type": content_type, **response.get("headers", {})}
        try:
            handler.send_response(response.get("status", 200))
            for name, value in headers.items():
                handler.send_header(name, str(value))
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a read timeout): as a real server
            pass


class ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    replay: Replay

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, the client's delayed ACK holds each answer 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _any(self) -> None:
        self.replay.respond(self)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

    def log_message(self, format: str, *args) -> None:
        pass
