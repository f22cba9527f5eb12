"""A DuckDB file held open by a second, real process (as a DuckDB shell or a stuck old run would hold it), for
the store-fault tests (imported by name: pytest puts tests/ on sys.path)."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()"


class Holder:
    def __init__(self, path: Path):
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        ready = self.process.stdout.readline().strip()
        if ready != "held":
            self.process.kill()
            raise RuntimeError(f"the holding process did not open {path}: {ready!r}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        """Close the file and end the process (returns once the lock is gone)."""
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        self.process.wait(timeout=10)

    def release_after(self, seconds: float) -> threading.Timer:
        timer = threading.Timer(seconds, self.release)
        timer.start()
        return timer


@contextmanager
def held(path: Path) -> Iterator[Holder]:
    """`path` (a DuckDB file) locked by another process until the block ends or `release()`."""
    holder = Holder(path)
    try:
        yield holder
    finally:
        holder.process.kill()
        holder.process.wait(timeout=10)


def duckdb_path(url: str) -> Path:
    return Path(url.removeprefix("duckdb:///"))
