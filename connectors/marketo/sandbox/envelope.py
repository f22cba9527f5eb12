"""Marketo's response envelope and error codes.

Every REST answer is HTTP 200 with `{requestId, success, errors?, warnings?, result?, moreResult?,
nextPageToken?}`; a failed call has `success: false` and `errors: [{code, message}]` with the code as a
string. Per-record outcomes inside `result` carry `status` created/updated/skipped and `reasons`.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

# Response-level codes (the whole call failed, nothing was executed), with Marketo's messages.
RESPONSE_MESSAGES = {
    "601": "Access token invalid",
    "602": "Access token expired",
    "603": "Access denied",
    "604": "Request time-out",
    "605": "HTTP Method not supported",
    "606": "Max rate limit '100' exceeded with in '20' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "612": "Invalid Content Type",
    "615": "Concurrent access limit '10' reached",
    "701": "Value cannot be blank",
    "702": "No data found",
    "704": "Invalid date format",
    "713": "Transient Error",
}
# Record-level codes (one item of a batch), and the few that Marketo also uses at response level.
RECORD_MESSAGES = {
    "1001": "Invalid value type",
    "1002": "Missing value for required parameter",
    "1003": "Invalid data",
    "1004": "Lead not found",
    "1005": "Lead already exists",
    "1006": "Field not found",
    "1007": "Multiple leads match the lookup criteria",
    "1011": "Field not supported",
    "1013": "Object not found",
    "1029": "Too many jobs in queue",
    "1035": "Unsupported filter type for target subscription",
    "1036": "Duplicate object found in input",
}

_sequence = itertools.count(random.randrange(0x10000))


class MarketoError(Exception):
    """A response-level failure: the handler aborts, the envelope says success false."""

    def __init__(self, code: str | int, message: str | None = None):
        self.code = str(code)
        self.message = message or RESPONSE_MESSAGES.get(self.code) or RECORD_MESSAGES.get(self.code, "Error")
        super().__init__(f"{self.code}: {self.message}")


class RecordError(Exception):
    """A record-level failure: this item is skipped with a reason, the batch goes on."""

    def __init__(self, code: str | int, message: str | None = None):
        self.code = str(code)
        self.message = message or RECORD_MESSAGES.get(self.code, "Invalid data")
        super().__init__(f"{self.code}: {self.message}")

    def reason(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def request_id() -> str:
    """Like Marketo's `e42b#14272d07d78`: a short hex counter, '#', the epoch milliseconds in hex."""
    return f"{next(_sequence) & 0xFFFFF:x}#{int(time.time() * 1000):x}"


def success(rid: str, result: list | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": rid}
    if result is not None:
        body["result"] = result
    body["success"] = True
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def failure(rid: str, error: MarketoError) -> dict[str, Any]:
    return {"requestId": rid, "success": False, "errors": [{"code": error.code, "message": error.message}]}


def skipped(error: RecordError, **extra: Any) -> dict[str, Any]:
    return {**extra, "status": "skipped", "reasons": [error.reason()]}
