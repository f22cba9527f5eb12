"""Children that tests stop with a signal start with the dispositions a shell gives them: SIGINT and SIGTERM
at their defaults and unblocked. A child inherits an ignored or blocked signal from the test process, whose state
depends on what ran in it before (a pytest worker runs many files), and a signal it ignores never stops it."""

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def reset_stop_signals() -> None:
    """Popen(preexec_fn=…): in the child, before it runs its program."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_DFL)
