"""Which inbox files are finished uploads: their size and modification time have held for `settle_seconds`
(and, where a done-marker is asked for, `<name><marker>` is there too).

An SFTP server cannot tell a finished file from one still being written under its final name, so the pull
watches it: a file modified longer ago than `settle_seconds` is taken as settled (the modification time is
whole seconds on SFTP v3, hence one second more); a younger one is looked at again after `settle_seconds`,
in one wait for all of them, and read when neither its size nor its modification time has moved. A client that pauses longer than that
in mid-upload can only be told apart by a done-marker it writes after the file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from leadsync.connectors.sftp.client import RemoteFile, SftpClient

MTIME_RESOLUTION_S = 1.0


def wait(seconds: float) -> None:
    """Let `seconds` pass while young files are watched (a module function: tests step a real upload here)."""
    time.sleep(seconds)


@dataclass(frozen=True)
class Waiting:
    """An inbox file left for a later run, and why."""

    name: str
    reason: str


def settled_files(client: SftpClient, settle_seconds: float,
                  done_marker: str | None = None) -> tuple[list[RemoteFile], list[Waiting]]:
    """The inbox's lead files ready to read (oldest first) and those left for a later run, with the reason."""
    listed = client.list_inbox()
    waiting: list[Waiting] = []
    if done_marker:
        present = client.inbox_names()
        marked = [f for f in listed if f.name + done_marker in present]
        waiting += [Waiting(f.name, f"waiting for its done-marker {f.name + done_marker} (files.done_marker); "
                                    "left in the inbox for the next run") for f in listed if f not in marked]
        listed = marked
    now = datetime.now(UTC)
    young = {f.name: f for f in listed
             if (now - f.mtime).total_seconds() < settle_seconds + MTIME_RESOLUTION_S}
    if not young:
        return listed, waiting
    wait(settle_seconds)  # then each young file has been seen unchanged for settle_seconds, or has changed
    ready = []
    for f in listed:
        if f.name not in young:
            ready.append(f)
            continue
        again = client.inbox_file(f.name)
        if again is None:
            continue  # moved or deleted meanwhile (another consumer): nothing to do
        if (again.size, again.mtime) == (f.size, f.mtime):
            ready.append(f)
        else:
            waiting.append(Waiting(f.name, f"still being written ({f.size:,} bytes, then {again.size:,} bytes "
                                           f"{settle_seconds:g} s later); left in the inbox for the next run. An "
                                           "uploader that pauses longer can write a done-marker "
                                           "(files.done_marker)"))
    return ready, waiting
