"""Response helpers shared by the sandbox's routes: JSON bodies, Eloqua's error shapes, paging parameters."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from leadsync.connectors.eloqua.sandbox.bulk_service import BulkError, validation_error
from leadsync.connectors.eloqua.sandbox.definitions import failure


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(raw, status, headers=headers, media_type="application/json; charset=utf-8")


def empty(status: int) -> Response:
    return Response(b"", status)


def error_response(exc: BulkError) -> Response:
    return empty(exc.status) if exc.body is None else json_response(exc.body, exc.status)


def user_of(request: Request) -> str:
    return request.scope["state"]["eloqua_user"].username


def bulk_paging(request: Request, max_limit: int, default: int = 1000) -> tuple[int, int]:
    """limit and offset of a Bulk list or data request; raises a 400 BulkError when out of range."""
    raw_limit = request.query_params.get("limit", str(default))
    raw_offset = request.query_params.get("offset", "0")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_limit:
        raise validation_error(failure("limit", f"Must be an integer value between 1 and {max_limit}.", raw_limit))
    if not raw_offset.isdigit():
        raise validation_error(failure("offset", "Must be an integer value of at least 0.", raw_offset))
    return int(raw_limit), int(raw_offset)


def rest_paging(request: Request) -> tuple[int, int, str]:
    """page, count and depth of an Application API list request (count 1..1000; unknown depth: minimal)."""
    params = request.query_params
    page, count = params.get("page", "1"), params.get("count", "1000")
    errors = []
    if not page.isdigit() or int(page) < 1:
        errors.append(_query_error("page", {"type": "IntegerRequirement", "minimum": 1}, page))
    if not count.isdigit() or not 1 <= int(count) <= 1000:
        errors.append(_query_error("count", {"type": "IntegerRequirement", "minimum": 1, "maximum": 1000}, count))
    if errors:
        raise BulkError(400, errors)
    depth = params.get("depth", "minimal").lower()
    return int(page), int(count), depth if depth in ("minimal", "partial", "complete") else "minimal"


def _query_error(parameter: str, requirement: dict, value: str) -> dict:
    return {"type": "QueryParameterValidationError", "parameter": parameter, "requirement": requirement,
            "value": value}


async def read_json(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8-sig")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error(failure("body", "Must be valid JSON.")) from None


def rest_envelope(elements: list, page: int, count: int, total: int) -> dict:
    return {"elements": elements, "page": page, "pageSize": count, "total": total}
