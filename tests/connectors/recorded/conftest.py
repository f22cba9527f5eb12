"""Fixtures of the recorded-response tests (replay_server.py has the server and the recorded answers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from replay_server import FAST_RETRY, Replay, ReplayHandler

from leadsync.connectors.api_client import HttpSettings


@pytest.fixture
def replay() -> Iterator[Replay]:
    """A replay server on 127.0.0.1 (a real socket, HTTP/1.1 keep-alive), stopped afterwards."""
    state = Replay()
    handler = type("Handler", (ReplayHandler,), {"replay": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
    assert not state.unmatched, f"requests with no recorded response: {state.unmatched}"


@pytest.fixture
def fast_http() -> HttpSettings:
    """Short timeouts and retry waits: tests count attempts, not seconds."""
    return HttpSettings(timeout_s=2.0, retry=FAST_RETRY)


@pytest.fixture
def closing() -> Iterator:
    """closing(source) -> source, closed after the test."""
    opened = []

    def keep(source):
        opened.append(source)
        return source
    yield keep
    for source in opened:
        source.close()
