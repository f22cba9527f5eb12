"""The soak's run launcher: `dagster job execute -m leadsync.definitions -j leadsync`, started warm.

A fresh `dagster job execute` spends most of a small run importing dagster and building leadsync's definitions
(17 s of 50 on a loaded 2-core machine). This process does that once per world, then forks one child per run
line it reads on stdin; the child, in a session of its own (the soak SIGKILLs its process group), runs the same
CLI command in-process, with its output in the file the line names. Nothing is opened before the fork: importing
the definitions touches neither the store nor the instance and starts no thread (checked when written).

Protocol (one run at a time): stdin `<log file>[TAB<op name parts to leave out, comma-separated>]`; stdout
`started <pid>`, then `ended <pid> <exit code> <peak RSS in KB>` (exit code -9: SIGKILLed).
"""

from __future__ import annotations

import os
import sys
import traceback

from leadsync.definitions import defs  # the heavy imports, paid once

COMMAND = ["-m", "leadsync.definitions", "-j", "leadsync"]


def _selection(leave_out: list[str]) -> list[str]:
    """`-o` naming every op of the job but those whose name holds one of `leave_out` (none: the whole job)."""
    if not leave_out:
        return []
    names = [n.name for n in defs().resolve_job_def("leadsync").graph.nodes]
    return ["-o", ",".join(sorted(n for n in names if not any(part in n for part in leave_out)))]


def _run(log_path: str, selection: list[str]) -> None:
    """In the child: the CLI command, then exit without running the parent's atexit handlers."""
    os.setsid()
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 0
    try:
        from dagster._cli.job import job_execute_command

        job_execute_command.main([*COMMAND, *selection], standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported in the run's output, as the CLI would
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    for line in sys.stdin:
        log_path, _, leave_out = line.rstrip("\n").partition("\t")
        if not log_path:
            continue
        selection = _selection([p for p in leave_out.split(",") if p])
        pid = os.fork()
        if pid == 0:
            _run(log_path, selection)
        print(f"started {pid}", flush=True)
        _, status, usage = os.wait4(pid, 0)
        print(f"ended {pid} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}", flush=True)


if __name__ == "__main__":
    main()
