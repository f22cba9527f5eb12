"""Salesforce's error shapes.

Top-level REST errors are a JSON list `[{"message", "errorCode", "fields"?}]`; per-record errors inside
sObject Collections results use `statusCode` instead of `errorCode`; Bulk API 2.0 failed-results rows
carry `CODE:message:Field --`. One `RecordError` renders all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.responses import JSONResponse

NOT_FOUND_MESSAGE = "The requested resource does not exist"


@dataclass(frozen=True)
class RecordError:
    """Why one record could not be written."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def for_collections(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def for_rest(self) -> dict:
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def for_bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class RecordRejected(Exception):
    """A write of one record failed; `errors` says why (usually one error)."""

    def __init__(self, *errors: RecordError):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = list(errors)


@dataclass
class ApiError(Exception):
    """A request-level error: HTTP `status` with the body `[{"message", "errorCode"[, "fields"]}]`."""

    status: int
    code: str
    message: str
    fields: Sequence[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def body(self) -> list[dict]:
        entry: dict = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = list(self.fields)
        return [entry]

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(message: str = NOT_FOUND_MESSAGE) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
