"""simple-salesforce's and requests' exceptions as the connector error taxonomy (connectors/api_client.py).

- 401 INVALID_SESSION_ID → `SessionExpired` (transient: the caller logs in again and repeats the call).
- 403 REQUEST_LIMIT_EXCEEDED → ApiQuotaExhausted when `Sforce-Limit-Info` shows the daily allocation spent
  (or, without the header, the message names the TotalRequests limit); otherwise it is the concurrent or
  burst limit → transient.
- Other 403, 404, INVALID_FIELD / INVALID_TYPE / MALFORMED_QUERY and bulk jobs refusing their data →
  ApiConfigError. 5xx, 429, failed bulk jobs and dropped connections → ApiTransientError.
"""

from __future__ import annotations

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

from connectors.api_client import (
    ApiConfigError,
    ApiError,
    ApiQuotaExhausted,
    ApiTransientError,
    transport_errors,
)
from connectors.salesforce.source.transport import LimitInfo

CONFIG_CODES = frozenset({"INVALID_FIELD", "INVALID_TYPE", "MALFORMED_QUERY", "INVALID_QUERY_FILTER_OPERATOR",
                          "INVALID_FIELD_FOR_INSERT_UPDATE", "INSUFFICIENT_ACCESS", "API_DISABLED_FOR_ORG",
                          "NOT_FOUND", "INVALID_SESSION_ID", "API_CURRENTLY_DISABLED", "JSON_PARSER_ERROR"})
_BULK_CONFIG_MARKERS = ("InvalidBatch", "InvalidJob", "Field name not found", "InsufficientAccess")


class SessionExpired(ApiTransientError):
    """The access token ended: log in again and repeat (no wait)."""

    def __init__(self, message: str):
        super().__init__(message, vendor_code="INVALID_SESSION_ID", status=401, retry_after_s=0)


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
        text = str(exc)
        if any(marker in text for marker in _BULK_CONFIG_MARKERS):
            return ApiConfigError(f"{what}: Salesforce refused the bulk job: {text}")
        return ApiTransientError(f"{what}: the bulk job did not complete: {text}")
    if isinstance(exc, requests.RequestException):
        return transport_errors(exc, what)
    return None


def _http_error(exc: SalesforceError, what: str, limits: LimitInfo) -> ApiError:
    code, message = first_error(exc.content)
    status = exc.status
    detail = f"{what}: HTTP {status} {code or ''} {message}".replace("  ", " ").strip()
    if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
        return _limit_exceeded(what, message, limits)
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
    usage = limits.usage
    header = limits.header or "no Sforce-Limit-Info header"
    daily = usage[0] >= usage[1] if usage else "TotalRequests" in message
    if daily:
        return ApiQuotaExhausted(
            f"{what}: Salesforce's daily API request allocation is spent ({header}): REQUEST_LIMIT_EXCEEDED "
            f"{message} The allocation is a rolling 24-hour window, so calls succeed again as the oldest "
            "requests age out; the pull stops here and resumes from the same watermark.",
            vendor_code="REQUEST_LIMIT_EXCEEDED", status=403)
    return ApiTransientError(f"{what}: Salesforce refused the call with REQUEST_LIMIT_EXCEEDED ({header}): "
                             "the concurrent-request or burst limit; retrying",
                             vendor_code="REQUEST_LIMIT_EXCEEDED", status=403)
