"""Translate domain errors into Dagster outcomes.

Configuration problems (bad YAML, missing secret, wrong credentials, unknown host key, missing folder)
fail the run at once without retries, naming the source, the cause and the fix: the failure sensor
emails the source's contacts. Transient problems (dropped connection, timeout) are re-raised so the
asset's RetryPolicy retries them first. A source that does not answer at all (connection refused, host
unreachable or unknown, timed out) fails saying so in the run's failure message and metadata
(`reason: source unreachable`), with the way to start the bundled sandboxes when the host is this machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from leadsync.connectors.api_client import ApiConfigError, ApiQuotaExhausted, ApiTransientError, SourceOutage
from leadsync.connectors.sftp.errors import SftpConfigError, SftpTransientError
from leadsync.config import ConfigError
from leadsync.store.faults import StoreFault

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# What the SFTP client and requests say when nothing answers at the address (not: a login or a session refused).
_UNREACHABLE = re.compile(
    r"connection refused|refused \(user |is unreachable|cannot resolve|name or service not known"
    r"|failed to establish a new connection|connecttimeout|connection to \S+ timed out|connecting to \S+ .*timed out"
    r"|cannot connect to \S+", re.IGNORECASE)


def unreachable(message: str) -> bool:
    """Whether an error says the server never answered (refused, unreachable, unresolvable, timed out)."""
    return bool(_UNREACHABLE.search(message))


def sandbox_hint(message: str) -> str:
    """For a server on this machine that does not answer: how to start the bundled sandboxes."""
    if not any(host in message for host in LOOPBACK):
        return ""
    return (" It is on this machine: if it is one of the bundled sandboxes, start them with the UI: `make ui` "
            "(`leadsync dev`), or `leadsync sandbox` beside `dagster dev`.")


def _unreachable_failure(source: str, exc: Exception, allow_retries: bool) -> dg.Failure:
    text = str(exc).rstrip(". ")
    return dg.Failure(
        description=f"Source '{source}' is unreachable: {text}.{sandbox_hint(text)} Nothing was pulled or written; "
                    "the next run starts where this one stopped.",
        metadata={"source": source, "reason": "source unreachable", "error": text},
        allow_retries=allow_retries,
    )


def store_failure(exc: StoreFault) -> dg.Failure:
    """A store fault as the step's one message. Locked by another process or a server refusing connections
    (already waited for, bounded, inside the step): transient, so the asset's RetryPolicy may try again later.
    A full disk or a wrong host: not retried (trying again at once frees no space)."""
    return dg.Failure(description=str(exc), metadata={"reason": exc.reason, "store": exc.where},
                      allow_retries=exc.transient)


@contextmanager
def store_errors() -> Iterator[None]:
    """Store faults (leadsync/store/faults.py) fail the step as `store_failure`."""
    try:
        yield
    except StoreFault as exc:
        raise store_failure(exc) from exc


@contextmanager
def source_errors(source: str) -> Iterator[None]:
    try:
        yield
    except StoreFault as exc:
        raise store_failure(exc) from exc
    except ConfigError as exc:
        raise dg.Failure(
            description=f"Source '{source}' is misconfigured: {exc}",
            metadata={"source": source, "file": exc.file, "problems": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in exc.problems))},
            allow_retries=False,
        ) from exc
    except SftpConfigError as exc:
        if unreachable(str(exc)):
            raise _unreachable_failure(source, exc, allow_retries=False) from exc
        raise dg.Failure(
            description=f"Source '{source}' cannot connect: {exc}",
            metadata={"source": source, "reason": "cannot connect"},
            allow_retries=False,
        ) from exc
    except ApiConfigError as exc:
        if unreachable(str(exc)):
            raise _unreachable_failure(source, exc, allow_retries=False) from exc
        raise dg.Failure(
            description=f"Source '{source}' is misconfigured: {exc}",
            metadata={"source": source, "vendor_code": exc.vendor_code or ""},
            allow_retries=False,
        ) from exc
    except ApiQuotaExhausted as exc:
        raise dg.Failure(
            description=f"Source '{source}' has used its API quota for today: {exc}",
            metadata={"source": source}, allow_retries=False,
        ) from exc
    except SourceOutage as exc:
        # every retry spent: the operator reads which vendor and endpoint failed, that nothing was lost and where
        # the next run resumes, as the run's failure (not under "Exceeded max_retries")
        raise dg.Failure(description=f"Source '{source}': {exc}", metadata={"source": source, **{
            k: v if isinstance(v, str | int | float | bool) else str(v) for k, v in exc.metadata.items()}},
            allow_retries=True) from exc
    except (SftpTransientError, ApiTransientError) as exc:
        if getattr(exc, "status", None) is None and unreachable(str(exc)):
            # retried by the asset's RetryPolicy like any transient error; the last attempt's message is this
            raise _unreachable_failure(source, exc, allow_retries=True) from exc
        raise
