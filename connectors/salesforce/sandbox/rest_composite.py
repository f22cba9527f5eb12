"""Composite resources: `/composite` (up to 25 subrequests run in order, later ones reading earlier answers
through `@{referenceId.field}` references, `allOrNone`), `/composite/batch` (up to 25 independent
subrequests, `haltOnError`) and `/composite/tree/{sObject}` (up to 200 new records with nested children,
saved all or none).

Subrequests run the same handlers as direct calls (sobjects, query, sObject Collections, ...), found by the
same URL table, and count as the one API call of the composite request. Their answers are reported as
Salesforce documents them: `compositeResponse[{body, httpHeaders, httpStatusCode, referenceId}]`,
`{hasErrors, results[{statusCode, result}]}`, `{hasErrors, results[{referenceId, id | errors}]}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.responses import JSONResponse, Response
from starlette.routing import compile_path

from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.describe import child_relationship
from leadsync.connectors.salesforce.sandbox.errors import NOT_FOUND_MESSAGE, ApiError, RecordError, RecordRejected
from leadsync.connectors.salesforce.sandbox.schema import ObjectSpec

Handler = Callable[[Org, ApiCall], Response]
MAX_SUBREQUESTS = 25
MAX_QUERIES_AND_COLLECTIONS = 5
MAX_TREE_RECORDS, MAX_TREE_DEPTH = 200, 5
DATA_PREFIX = "/services/data/"
_VERSION = re.compile(r"^/services/data/v(\d{2,3}\.\d)(/.*)?$")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
ROLLED_BACK = ("PROCESSING_HALTED",
               "The transaction was rolled back since another operation in the same transaction failed.")
HALTED = ("BATCH_PROCESSING_HALTED", "Batch processing halted per request")


@dataclass
class Answer:
    """What one subrequest answered."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def failed(self) -> bool:
        return self.status >= 400


def _error(code: str, message: str) -> list[dict]:
    return [{"errorCode": code, "message": message}]


class Subrequests:
    """Runs a subrequest (method, URL under /services/data/vXX.X, JSON body) through the handler a direct
    call of that URL reaches. `table` holds (path under /services/data/{version}, handler, methods, extra
    path parameters) as the app routes them."""

    def __init__(self, table: Iterable[tuple[str, Handler, list[str], dict[str, str]]]):
        self._routes = [(compile_path(path)[0], handler, set(methods), extra) for path, handler, methods, extra
                        in table]

    def run(self, org: Org, outer: ApiCall, method: str, url: str, body: Any = None) -> Answer:
        parts = urlsplit(url)
        match = _VERSION.match(parts.path.rstrip("/"))
        if match is None:
            return Answer(404, {}, _error("NOT_FOUND", NOT_FOUND_MESSAGE))
        path = match.group(2) or ""
        allowed = False
        for regex, handler, methods, extra in self._routes:
            found = regex.match(path)
            if found is None:
                continue
            allowed = True
            if method not in methods:
                continue
            call = ApiCall(method=method, version=match.group(1), params={**found.groupdict(), **extra},
                           query=dict(parse_qsl(parts.query, keep_blank_values=True)), headers=outer.headers,
                           body=b"" if body is None else json.dumps(body).encode(), user_id=outer.user_id)
            try:
                response = handler(org, call)
            except ApiError as exc:
                response = exc.response()
            raw = bytes(response.body or b"")
            headers = {}
            if response.status_code == 201 and path.startswith("/sobjects/"):
                created = json.loads(raw)
                sobject = org.schema.object(call.params["sobject"])
                headers["Location"] = f"/services/data/v{call.version}/sobjects/{sobject.name}/{created['id']}"
            return Answer(response.status_code, headers, json.loads(raw) if raw else None)
        if allowed:
            return Answer(405, {}, _error("METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. "
                                                                "Allowed are GET,PATCH,DELETE,POST"))
        return Answer(404, {}, _error("NOT_FOUND", NOT_FOUND_MESSAGE))


class _TooMany(Exception):
    """A composite request over 25 subrequests: Salesforce runs none and answers one LIMIT_EXCEEDED result."""


def _body(call: ApiCall, key: str) -> tuple[dict, list]:
    body = call.json()
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize the request: a '{key}' list is required")
    if len(items) > MAX_SUBREQUESTS and key == "compositeRequest":
        raise _TooMany()
    if len(items) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"A {key} may hold at most {MAX_SUBREQUESTS} subrequests; "
                                              f"received {len(items)}")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("method"), str) or \
                item["method"] not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not isinstance(item.get("url"),
                                                                                                 str):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each subrequest needs a method (GET, POST, PATCH, PUT or "
                                                     "DELETE) and a url")
    return body, items


# ---------------------------------------------------------------------------------------------- /composite

def _lookup(answers: dict[str, Answer], name: str, path: str) -> tuple[bool, Any]:
    answer = answers.get(name)
    if answer is None or answer.failed:
        return False, None
    value = answer.body
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return value is not None, value


class _Unresolved(Exception):
    def __init__(self, name: str, path: str):
        super().__init__(f"Invalid reference specified. No value for {name}{path} found in {name}.")


def _substitute(value: Any, answers: dict[str, Answer], in_url: bool = False) -> Any:
    """`@{ref.path}` references in a URL or any string of a body; a string that is one reference takes the
    referenced value as it is (a number stays a number)."""
    if isinstance(value, dict):
        return {k: _substitute(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, answers) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def text(found: re.Match) -> str:
        ok, resolved = _lookup(answers, found.group(1), found.group(2))
        if not ok:
            raise _Unresolved(found.group(1), found.group(2))
        return json.dumps(resolved) if isinstance(resolved, bool) else str(resolved)

    whole = _REFERENCE.fullmatch(value)
    if whole and not in_url:
        ok, resolved = _lookup(answers, whole.group(1), whole.group(2))
        if not ok:
            raise _Unresolved(whole.group(1), whole.group(2))
        return resolved
    return _REFERENCE.sub(text, value)


def composite(subrequests: Subrequests) -> Handler:
    def handler(org: Org, call: ApiCall) -> Response:
        """POST /composite."""
        try:
            body, items = _body(call, "compositeRequest")
        except _TooMany:
            return JSONResponse({"compositeResponse": [{
                "body": _error("LIMIT_EXCEEDED", "The request can’t contain more than 25 operations."),
                "httpHeaders": {}, "httpStatusCode": 400, "referenceId": None}]})
        all_or_none = body.get("allOrNone") is True
        seen: set[str] = set()
        heavy = 0
        for item in items:
            ref = item.get("referenceId")
            if not isinstance(ref, str) or not _REFERENCE_ID.match(ref):
                raise ApiError(400, "JSON_PARSER_ERROR", f"Invalid referenceId '{ref}': it must start with a "
                                                         "letter or a number and hold only letters, numbers and "
                                                         "underscores ('_')")
            if ref in seen:
                raise ApiError(400, "JSON_PARSER_ERROR", f"Duplicate referenceId provided in the request: {ref}")
            seen.add(ref)
            path = urlsplit(item["url"]).path
            heavy += "/query" in path or "/composite/sobjects" in path
        if heavy > MAX_QUERIES_AND_COLLECTIONS:
            raise ApiError(400, "LIMIT_EXCEEDED", f"A composite request may hold at most "
                                                  f"{MAX_QUERIES_AND_COLLECTIONS} query or sObject Collections "
                                                  "subrequests")
        answers: dict[str, Answer] = {}
        with org.store.transaction() as tx:
            for item in items:
                if all_or_none and any(a.failed for a in answers.values()):
                    answers[item["referenceId"]] = Answer(400, {}, _error(*ROLLED_BACK))
                    continue
                try:
                    url = _substitute(item["url"], answers, in_url=True)
                    sub_body = _substitute(item.get("body"), answers)
                except _Unresolved as exc:
                    answers[item["referenceId"]] = Answer(400, {}, _error("PROCESSING_HALTED", str(exc)))
                    continue
                if all_or_none and isinstance(sub_body, dict) and "/composite/sobjects" in url:
                    sub_body = {**sub_body, "allOrNone": True}  # the outer flag overrides the collection's
                if all_or_none and item["method"] == "DELETE" and "/composite/sobjects" in url:
                    url = re.sub(r"([?&])allOrNone=[^&]*", r"\1", url) + ("&" if "?" in url else "?") + \
                        "allOrNone=true"
                answers[item["referenceId"]] = subrequests.run(org, call, item["method"], url, sub_body)
            if all_or_none and any(a.failed for a in answers.values()):
                tx.rollback()
                first = next(ref for ref, a in answers.items() if a.failed)
                answers = {ref: a if ref == first or a.failed else Answer(400, {}, _error(*ROLLED_BACK))
                           for ref, a in answers.items()}
        return JSONResponse({"compositeResponse": [
            {"body": a.body, "httpHeaders": a.headers, "httpStatusCode": a.status, "referenceId": ref}
            for ref, a in answers.items()]})

    return handler


# ---------------------------------------------------------------------------------------------- /composite/batch

def batch(subrequests: Subrequests) -> Handler:
    def handler(org: Org, call: ApiCall) -> Response:
        """POST /composite/batch: subrequest URLs are relative to /services/data (`v62.0/sobjects/...`)."""
        body, items = _body(call, "batchRequests")
        halt = body.get("haltOnError") is True
        results = []
        halted = False
        for item in items:
            if halted:
                results.append({"statusCode": 412, "result": _error(*HALTED)})
                continue
            url = item["url"] if item["url"].startswith("/") else DATA_PREFIX + item["url"]
            answer = subrequests.run(org, call, item["method"], url, item.get("richInput"))
            results.append({"statusCode": answer.status, "result": answer.body})
            halted = halt and answer.failed
        return JSONResponse({"hasErrors": any(r["statusCode"] >= 400 for r in results), "results": results})

    return handler


# ---------------------------------------------------------------------------------------------- /composite/tree

@dataclass
class _Node:
    spec: ObjectSpec
    ref: str
    values: dict[str, Any]
    children: list[tuple[str, _Node]]  # (the child's field pointing at this record, child)


def _tree_nodes(org: Org, spec: ObjectSpec, records: Any, depth: int, refs: set[str]) -> list[_Node]:
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request: a 'records' list is required")
    if depth > MAX_TREE_DEPTH:
        raise ApiError(400, "INVALID_INPUT", f"A tree may nest at most {MAX_TREE_DEPTH} levels of records")
    nodes = []
    for record in records:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        if not isinstance(attributes, dict) or not attributes.get("referenceId"):
            raise ApiError(400, "INVALID_INPUT", "Each record needs attributes with a type and a referenceId")
        ref = str(attributes["referenceId"])
        if ref in refs:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate ReferenceId provided in the request: {ref}")
        refs.add(ref)
        if str(attributes.get("type", "")).lower() != spec.name.lower():
            raise ApiError(400, "INVALID_INPUT", f"The type of record {ref} is {attributes.get('type')}; "
                                                 f"{spec.name} was expected")
        values, children = {}, []
        for key, value in record.items():
            if key == "attributes":
                continue
            link = child_relationship(org.schema, spec, key) if isinstance(value, dict) else None
            if link is not None:
                child_spec, field_name = link
                children += [(field_name, node) for node in
                             _tree_nodes(org, child_spec, value.get("records"), depth + 1, refs)]
            else:
                values[key] = value
        nodes.append(_Node(spec, ref, values, children))
    return nodes


def tree(org: Org, call: ApiCall) -> Response:
    """POST /composite/tree/{sObject}: 201 with every record's id, or 400 with the failed records' errors
    (and nothing saved)."""
    spec = org.schema.object(call.params["sobject"])
    if spec is None:
        raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
    body = call.json()
    refs: set[str] = set()
    nodes = _tree_nodes(org, spec, body.get("records") if isinstance(body, dict) else None, 1, refs)
    if len(refs) > MAX_TREE_RECORDS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"A tree may hold at most {MAX_TREE_RECORDS} records; "
                                              f"received {len(refs)}")
    saved: list[dict] = []
    failed: list[dict] = []

    def save(node: _Node, parent: tuple[str, str] | None) -> None:
        values = dict(node.values)
        if parent is not None:
            values[parent[0]] = parent[1]
        try:
            if any(k.lower() == "id" for k in values):
                raise RecordRejected(RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",)))
            record_id = org.writer.create(node.spec.name, values)
        except RecordRejected as exc:
            failed.append({"referenceId": node.ref, "errors": [e.for_collections() for e in exc.errors]})
            return
        saved.append({"referenceId": node.ref, "id": record_id})
        for field_name, child in node.children:
            save(child, (field_name, record_id))

    with org.store.transaction() as tx:
        for node in nodes:
            save(node, None)
        if failed:
            tx.rollback()
            return JSONResponse({"hasErrors": True, "results": failed}, status_code=400)
    return JSONResponse({"hasErrors": False, "results": saved}, status_code=201)
