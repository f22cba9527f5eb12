"""Translate domain errors into Dagster outcomes.

Configuration problems (bad YAML, missing secret, wrong credentials, unknown host key, missing folder)
fail the run at once without retries, naming the source, the cause and the fix: the failure sensor
emails the source's contacts. Transient problems (dropped connection, timeout) are re-raised so the
asset's RetryPolicy retries them first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from connectors.api_client import ApiConfigError, ApiQuotaExhausted, ApiTransientError
from connectors.sftp.errors import SftpConfigError, SftpTransientError
from leadsync.config import ConfigError


@contextmanager
def source_errors(source: str) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        raise dg.Failure(
            description=f"Source '{source}' is misconfigured: {exc}",
            metadata={"source": source, "file": exc.file, "problems": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in exc.problems))},
            allow_retries=False,
        ) from exc
    except SftpConfigError as exc:
        raise dg.Failure(
            description=f"Source '{source}' cannot connect: {exc}",
            metadata={"source": source},
            allow_retries=False,
        ) from exc
    except ApiConfigError as exc:
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
    except (SftpTransientError, ApiTransientError):
        raise
