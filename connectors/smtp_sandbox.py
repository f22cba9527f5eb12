"""A real SMTP server on loopback (aiosmtpd) that keeps every message as an .eml file: the demo's mail
server, so partner notification emails can be opened and their accept/reject links clicked.

    with SmtpSandbox(folder, port=8025) as smtp:
        ...                      # send mail to 127.0.0.1:8025
        smtp.messages()          # the .eml files received, oldest first

Run it in the foreground: python -m leadsync.connectors.smtp_sandbox --folder DIR --port 8025
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from aiosmtpd.controller import Controller


class _Mailbox:
    def __init__(self, folder: Path):
        self.folder = folder
        self._n = itertools.count(len(list(folder.glob("*.eml"))) + 1)

    async def handle_DATA(self, server, session, envelope) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._n):05d}.eml"
        rcpt = ", ".join(envelope.rcpt_tos)
        (self.folder / name).write_bytes(f"X-Envelope-To: {rcpt}\r\n".encode() + envelope.content)
        return "250 Message accepted for delivery"


class SmtpSandbox:
    def __init__(self, folder: Path, port: int = 8025, host: str = "127.0.0.1"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self._controller = Controller(_Mailbox(self.folder), hostname=host, port=port)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    with SmtpSandbox(args.folder, args.port) as smtp:
        print(f"SMTP sandbox on {smtp.host}:{smtp.port}, keeping messages in {smtp.folder} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
