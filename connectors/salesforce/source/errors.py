"""simple-salesforce's and requests' exceptions as the connector error taxonomy (connectors/api_client.py).

- 401 INVALID_SESSION_ID → `SessionExpired` (transient: the caller logs in again and repeats the call).
- 403 REQUEST_LIMIT_EXCEEDED → ApiQuotaExhausted when the message names the TotalRequests limit (the org's
  24-hour allocation), whatever the last `Sforce-Limit-Info` said; transient when it names a Concurrent
  limit; otherwise the header decides (usage at its maximum: quota).
- Other 403, 404, INVALID_FIELD / INVALID_TYPE / MALFORMED_QUERY and bulk jobs refusing their data →
  ApiConfigError. 5xx, 429, failed bulk jobs and dropped connections → ApiTransientError.
"""

from __future__ import annotations

import re

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from leadsync.connectors.api_client import (
    ApiConfigError,
    ApiError,
    ApiQuotaExhausted,
    ApiTransientError,
    transport_errors,
)
from leadsync.connectors.salesforce.source.transport import LimitInfo

CONFIG_CODES = frozenset({"INVALID_FIELD", "INVALID_TYPE", "MALFORMED_QUERY", "INVALID_QUERY_FILTER_OPERATOR",
                          "INVALID_FIELD_FOR_INSERT_UPDATE", "INSUFFICIENT_ACCESS", "API_DISABLED_FOR_ORG",
                          "NOT_FOUND", "INVALID_SESSION_ID", "API_CURRENTLY_DISABLED", "JSON_PARSER_ERROR"})
_BULK_CONFIG_MARKERS = ("InvalidBatch", "InvalidJob", "Field name not found", "InsufficientAccess",
                        "FeatureNotEnabled", "InvalidOperation")
_BULK_QUOTA_MARKERS = ("ExceededQuota",)
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on (?:entity|sobject of type) '?(\w+)'?")


class SessionExpired(ApiTransientError):
    """The access token ended: log in again and repeat (no wait)."""

    def __init__(self, message: str):
        super().__init__(message, vendor_code="INVALID_SESSION_ID", status=401, retry_after_s=0)


class BulkJobFailed(ApiTransientError):
    """A bulk job ended Failed for a reason of Salesforce's own: only a new job can do the work."""


def first_error(content: object) -> tuple[str | None, str]:
    """(errorCode, message) of Salesforce's error list body."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        entry = content[0]
        return entry.get("errorCode") or entry.get("statusCode"), str(entry.get("message", ""))
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content)[:300]


def translate(exc: BaseException, what: str, limits: LimitInfo) -> ApiError | None:
    """The ApiError `exc` means while doing `what`, or None for an exception this module does not know."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return None  # the caller words login failures (auth.py)
    if isinstance(exc, SalesforceExpiredSession):
        return SessionExpired(f"{what}: the Salesforce session ended; logging in again")
    if isinstance(exc, SalesforceError):
        return _http_error(exc, what, limits)
    if isinstance(exc, SalesforceOperationError):
        return bulk_job_error(what, str(exc))
    if isinstance(exc, requests.RequestException):
        return transport_errors(exc, what)
    return None


def bulk_job_error(what: str, message: str, job_id: str | None = None) -> ApiError:
    """What a Bulk API 2.0 job that ended `Failed` (or was refused) with `message` (its errorMessage) means.
    A SOQL or field problem ("INVALID_FIELD: ... No such column 'Foo' on entity 'Lead'", MALFORMED_QUERY,
    InvalidJob...) is the configuration's: a new job would fail the same way. ExceededQuota is the day's
    bulk allocation. Anything else (the job failed inside Salesforce) is transient."""
    job = f" {job_id}" if job_id else ""
    message = " ".join(message.split()).rstrip(". ")
    code = re.match(r"\s*([A-Za-z_]+)\s*:", message)
    code = code.group(1) if code else None
    if (code and code.upper() in CONFIG_CODES) or any(marker in message for marker in _BULK_CONFIG_MARKERS):
        column = _NO_SUCH_COLUMN.search(message)
        fix = (f"the field '{column.group(1)}' does not exist on {column.group(2)} (or the integration user "
               "cannot see it): fix 'column' in the source's mapping, or create the field / grant field-level "
               "access in Salesforce" if column else
               "check the mapped field names and the object against describe in Salesforce")
        return ApiConfigError(f"{what}: Salesforce's bulk query job{job} failed: {message}. Fix: {fix}.",
                              vendor_code=code or "BULK_JOB_FAILED")
    if any(marker in message for marker in _BULK_QUOTA_MARKERS):
        return ApiQuotaExhausted(f"{what}: Salesforce refused the bulk job{job}: {message} (the org's "
                                 "24-hour Bulk API allocation); the pull stops here and resumes from the same "
                                 "watermark once the allocation frees up.", vendor_code="ExceededQuota")
    return BulkJobFailed(f"{what}: the bulk job{job} did not complete: {message}",
                         vendor_code=code or "BULK_JOB_FAILED")


def _http_error(exc: SalesforceError, what: str, limits: LimitInfo) -> ApiError:
    code, message = first_error(exc.content)
    status = exc.status
    detail = f"{what}: HTTP {status} {code or ''} {message}".replace("  ", " ").strip()
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return _limit_exceeded(what, message, limits)
    if code in _BULK_QUOTA_MARKERS:  # a bulk job refused at creation: the day's bulk allocation, as when it fails
        return bulk_job_error(what, f"{code}: {message}")
    if status == 429 or status >= 500:
        return ApiTransientError(detail, vendor_code=code, status=status)
    if isinstance(exc, SalesforceRefusedRequest):
        return ApiConfigError(f"{detail}; check the integration user's permissions (profile, permission "
                              "sets)", vendor_code=code, status=status)
    if isinstance(exc, SalesforceResourceNotFound):
        return ApiConfigError(f"{detail}; check the object name and the API version", vendor_code=code,
                              status=status)
    if isinstance(exc, SalesforceMalformedRequest) and code in CONFIG_CODES:
        return ApiConfigError(detail, vendor_code=code, status=status)
    return ApiError(detail, vendor_code=code, status=status)


def _limit_exceeded(what: str, message: str, limits: LimitInfo) -> ApiError:
    """REQUEST_LIMIT_EXCEEDED is both the org's 24-hour allocation ("TotalRequests Limit exceeded.") and the
    concurrency limits ("ConcurrentPerOrgLongTxn Limit exceeded.", "ConcurrentRequests ..."). The message
    names which, and it wins over the last Sforce-Limit-Info seen, which can be stale (other integrations
    spend the same allocation); only a message naming neither falls back on the header."""
    header = limits.header or "no Sforce-Limit-Info header"
    if "TotalRequests" in message:
        daily = True
    elif "Concurrent" in message:
        daily = False
    else:
        usage = limits.usage
        daily = bool(usage and usage[0] >= usage[1])
    if daily:
        return ApiQuotaExhausted(
            f"{what}: Salesforce's daily API request allocation is spent (REQUEST_LIMIT_EXCEEDED: {message}; "
            f"last usage seen: {header}). The allocation is a rolling 24-hour window, so calls succeed again as "
            "the oldest requests age out (Setup > Company Information shows the usage): the pull stops here "
            "and the next run resumes from the same watermark.",
            vendor_code="REQUEST_LIMIT_EXCEEDED", status=403)
    return ApiTransientError(f"{what}: Salesforce refused the call with REQUEST_LIMIT_EXCEEDED ({message}; "
                             f"{header}): the concurrent-request limit; retrying",
                             vendor_code="REQUEST_LIMIT_EXCEEDED", status=403)
