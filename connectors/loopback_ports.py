"""Free TCP ports for servers that bind them a moment later: the sandboxes, `leadsync dev`'s Dagster UI, tests.

bind(port 0) gets a port from the kernel's ephemeral range (`ip_local_port_range`, 32768-60999 by default),
the range every outgoing connection on the machine also takes its local port from. Between finding such a port
free and the server binding it (several seconds for `dagster dev`'s webserver), any connection made by any
process can take it: a suite run saw the webserver die with "address already in use" and the UI never come up.
A port below that range is never given to an outgoing connection, so one found free stays free unless a server
picks the very same number. Each process walks its own stretch of that range (from an offset its PID sets) and
checks every port by binding it.
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from pathlib import Path

LOWEST = 10_000  # above the ports services commonly listen on
_lock = threading.Lock()
_next: itertools.count | None = None


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux; the IANA range elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def _candidates() -> range:
    low, _high = ephemeral_range()
    if low - LOWEST >= 1_000:
        return range(LOWEST, low)
    return range(1024, low) if low - 1024 >= 1_000 else range(low, 65536)  # a machine with a wide range


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """`n` distinct ports nothing listens on at `host`, outside the ephemeral range where it has room."""
    global _next
    pool = _candidates()
    found: list[int] = []
    held: list[socket.socket] = []
    try:
        with _lock:
            if _next is None:
                _next = itertools.count((os.getpid() * 7919) % len(pool))
            for _ in range(len(pool)):
                if len(found) == n:
                    break
                port = pool[next(_next) % len(pool)]
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.bind((host, port))
                except OSError:
                    s.close()
                    continue
                held.append(s)  # held until all are found: the n ports are distinct
                found.append(port)
    finally:
        for s in held:
            s.close()
    if len(found) < n:
        raise OSError(f"no {n} free ports on {host} between {pool.start} and {pool.stop - 1}")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
