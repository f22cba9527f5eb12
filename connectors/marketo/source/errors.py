"""What Marketo's error codes mean for leadsync. Marketo answers HTTP 200 with `success: false` and
`errors: [{code, message}]`; the code (a string) decides, never the message text (API_FACTS §2.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiQuotaExhausted, ApiTransientError

CENTRAL = ZoneInfo("America/Chicago")  # Marketo's daily quotas reset at midnight US Central time

TOKEN_CODES = {"601", "602"}  # invalid / expired token: refresh and repeat the call once
RATE_CODE = "606"  # too many calls in 20 s: wait for the window to slide
# Busy, timed out, briefly unavailable: retried with back-off.
TRANSIENT_CODES = {"502", "604", "608", "611", "615", "713", "719", "1014", "1016", "1019", "1022"}
QUOTA_CODES = {"607"}  # the daily API quota
# Bulk Extract: one code, three conditions told apart by the message (API_FACTS §2.7): "Export daily quota
# exceeded" (500 MB a day: quota), "Too many jobs in queue" (10 queued: wait, enqueue the same job again),
# "Job already queued" (a repeated enqueue: the job is on its way).
EXPORT_CODE = "1029"
# The subscription, the API user or the mapping must change.
CONFIG_CODES = {"603", "610", "614", "616", "703", "1006", "1011", "1013", "1035"}
NO_DATA = "702"


class TokenRejected(ApiTransientError):
    """601/602: the access token is no longer good. The client refreshes it and repeats the call."""


class ExportQueueFull(ApiError):
    """1029 "Too many jobs in queue": wait and enqueue the same export again (bulk.py does, within the
    export's deadline). Not an ApiTransientError, so the client does not repeat the call at once."""


class ExportAlreadyQueued(ApiError):
    """1029 "Job already queued": an earlier enqueue of this export went through."""


def quota_reset(now: datetime) -> datetime:
    """The next midnight US Central time after `now` (UTC-aware), when Marketo's daily quotas reset."""
    local = now.astimezone(CENTRAL)
    return datetime(local.year, local.month, local.day, tzinfo=CENTRAL) + timedelta(days=1)


def quota_message(now: datetime) -> str:
    reset = quota_reset(now)
    wait = reset - now
    hours, minutes = int(wait.total_seconds() // 3600), int(wait.total_seconds() % 3600 // 60)
    return (f"it resets at midnight US Central time, {reset:%Y-%m-%d %H:%M %Z} "
            f"({reset.astimezone(UTC):%Y-%m-%d %H:%M} UTC), in {hours} h {minutes:02d} min")


def envelope_error(errors: list[dict], what: str, now: datetime, rate_limit_wait_s: float) -> ApiError:
    """The exception for a `success: false` answer of the call described by `what`."""
    first = errors[0] if errors else {}
    code, message = str(first.get("code", "")), str(first.get("message", "unknown error"))
    text = f"{what}: Marketo error {code}: {message}"
    if code in TOKEN_CODES:
        return TokenRejected(text, vendor_code=code)
    if code == RATE_CODE:
        return ApiTransientError(text, vendor_code=code, retry_after_s=rate_limit_wait_s)
    if code in TRANSIENT_CODES:
        return ApiTransientError(text, vendor_code=code)
    if code == EXPORT_CODE:
        return _export_error(text, message, now)
    if code in QUOTA_CODES:
        return ApiQuotaExhausted(f"{text}. Marketo refuses more calls: the daily API quota is spent; "
                                 f"{quota_message(now)}. The pull resumes from its watermark then.",
                                 vendor_code=code, resets_at=quota_reset(now))
    if code in CONFIG_CODES:
        return ApiConfigError(f"{text}; check the API user's permissions and the field, object or activity "
                              f"names in the configuration", vendor_code=code)
    return ApiError(text, vendor_code=code)


def _export_error(text: str, message: str, now: datetime) -> ApiError:
    lowered = message.lower()
    if "already queued" in lowered:
        return ExportAlreadyQueued(text, vendor_code=EXPORT_CODE)
    if "queue" in lowered:
        return ExportQueueFull(f"{text}: Marketo holds at most 10 export jobs queued; waiting for room",
                               vendor_code=EXPORT_CODE)
    return ApiQuotaExhausted(f"{text}. Marketo's Bulk Extract allowance (500 MB of export files a day) is spent; "
                             f"{quota_message(now)}. The pull resumes from its watermark then.",
                             vendor_code=EXPORT_CODE, resets_at=quota_reset(now))


def record_error(item: dict) -> str:
    """`code: message` of a skipped record (`reasons` on leads and objects, `errors` on custom activities)."""
    reasons = item.get("reasons") or item.get("errors") or []
    if not reasons:
        return f"{item.get('status', 'skipped')}: no reason given"
    return "; ".join(f"{r.get('code', '')}: {r.get('message', '')}" for r in reasons)
