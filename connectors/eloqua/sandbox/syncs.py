"""Bulk syncs: the queue that moves staged data, their status lifecycle, logs, rejects and staged exports.

A sync is created `pending`, a worker thread picks it up (`active`, `syncStartedAt`), runs the job and ends it
`success`, `warning` (some rows rejected) or `error` (`syncEndedAt`). Delays are real time and small;
`hold()` keeps new syncs pending until `release()` so a test can watch each state. Export data stays
readable until the definition's dataRetentionDuration has passed on the sandbox clock.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from leadsync.connectors.eloqua.sandbox.clock import SandboxClock, iso_z


@dataclass
class Sync:
    id: int
    synced_instance_uri: str
    created_at: datetime
    created_by: str
    kind: str  # "export" | "import"
    callback_url: str | None = None
    status: str = "pending"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    retain_until: datetime | None = None
    data: pa.Table | None = None  # staged export rows
    rejects: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"/syncs/{self.id}"

    def to_json(self) -> dict:
        body = {"syncedInstanceUri": self.synced_instance_uri, "status": self.status}
        if self.started_at:
            body["syncStartedAt"] = iso_z(self.started_at)
        if self.ended_at:
            body["syncEndedAt"] = iso_z(self.ended_at)
        if self.callback_url:
            body["callbackUrl"] = self.callback_url
        body.update({"createdAt": iso_z(self.created_at), "createdBy": self.created_by, "uri": self.uri})
        return body

    def log(self, when: datetime, code: str, message: str, count: int = 0, severity: str = "information") -> None:
        self.logs.append({"syncUri": self.uri, "count": count, "severity": severity, "statusCode": code,
                          "message": message, "createdAt": iso_z(when)})


# A job does the sync's work (stage an export, apply an import) and returns its final status.
Job = Callable[[Sync], str]


class SyncQueue:
    """One worker thread processing syncs in order, as an instance's Bulk queue does."""

    def __init__(self, clock: SandboxClock, pending_s: float = 0.02, active_s: float = 0.02):
        self.clock = clock
        self.pending_s = pending_s  # how long a sync stays pending at least
        self.active_s = active_s  # how long it stays active at least
        self._queue: queue.Queue[tuple[Sync, Job] | None] = queue.Queue()
        self._released = threading.Event()
        self._released.set()
        self._idle = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        self.on_finished: Callable[[Sync], None] | None = None  # e.g. persist the state after each sync

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="eloqua-syncs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._released.set()
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def submit(self, sync: Sync, job: Job) -> None:
        with self._idle:
            self._busy += 1
        self._queue.put((sync, job))

    def hold(self) -> None:
        """New syncs stay `pending` until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until every submitted sync has finished (for tests and the benchmark)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            sync, job = item
            try:
                time.sleep(self.pending_s)
                self._released.wait()
                sync.started_at = self.clock.now()
                sync.status = "active"
                started = time.monotonic()
                try:
                    final = job(sync)
                except Exception as exc:  # noqa: BLE001 - a sandbox bug must still end the sync, as "error"
                    sync.log(self.clock.now(), "ELQ-00107", f"Sync failed: {exc}", severity="error")
                    final = "error"
                time.sleep(max(0.0, self.active_s - (time.monotonic() - started)))
                sync.ended_at = self.clock.now()
                sync.log(sync.ended_at, "ELQ-00101",
                         f"Sync processed for sync {sync.id}, resulting in {final.capitalize()} status.")
                sync.status = final  # last: a poller that sees the end status finds everything in place
                if self.on_finished is not None:
                    self.on_finished(sync)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()
