"""Processes as the kernel accounts them (/proc/<pid>/stat), for the benchmarks that measure CPU by process:
scale_1m.py (CPU and memory by who), postgres_cpu.py (the server's CPU by statement), postgres_partitions.py (a
backend's CPU for a COPY). Imported by name: a benchmark runs with bench/ first on sys.path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

TICK = os.sysconf("SC_CLK_TCK")


class Process(NamedTuple):
    name: str  # the command's name (/proc/<pid>/comm)
    group: int  # its process group
    cpu_s: float  # CPU seconds of the process and of the children it has reaped


def process(pid: int | str) -> Process | None:
    """One process now, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the name, which may hold spaces and parentheses
    return Process(stat[stat.index("(") + 1:stat.rindex(")")], int(fields[2]), sum(int(v) for v in fields[11:15]) / TICK)


def cpu_seconds(pid: int) -> float | None:
    """A process's own CPU seconds (user + system, not its reaped children's), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def processes() -> Iterator[tuple[int, Process]]:
    """Every process now running (one that ends while being read is passed over)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := process(entry)) is not None:
            yield int(entry), found
