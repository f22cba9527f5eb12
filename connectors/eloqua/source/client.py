"""HTTP to one Eloqua instance: authentication, base-URL discovery through /id, and every call retried.

Authentication is Basic (`Site\\User:password`) or an OAuth 2.0 bearer token; a 401 on a bearer token gets
the token renewed once (refresh grant, tokens rotate) before the call is repeated. The pod's URLs always come
from `/id` (instances move between pods), never from a guess. Each call goes through `with_retries`: 429,
5xx, timeouts and dropped connections are retried with back-off; bad credentials, a missing permission or a
bad URL are ApiConfigError with what to fix.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import requests

from leadsync.connectors.api_budget import ApiBudget
from leadsync.connectors.api_client import (
    ApiConfigError,
    ApiError,
    ApiTransientError,
    answered_refusal,
    http_status_error,
    new_session,
    transport_errors,
    with_retries,
)
from leadsync.connectors.eloqua.source.settings import MAX_LIST_PAGE, EloquaSettings

log = logging.getLogger(__name__)
NOT_AUTHENTICATED = "Not authenticated."


@dataclass(frozen=True)
class Endpoints:
    """What /id announced: the pod's base URL and the API URL templates (with `{version}`)."""

    base: str
    rest_template: str
    bulk_template: str
    site: str
    user: str

    def rest(self, version: str = "1.0") -> str:
        """Application API root without the trailing slash, e.g. https://secure.p03.eloqua.com/API/REST/2.0."""
        return self.rest_template.replace("{version}", version).rstrip("/")

    @property
    def bulk(self) -> str:
        return self.bulk_template.replace("{version}", "2.0").rstrip("/")


def failures_text(body: object) -> str:
    """Eloqua's validation bodies as one line: Bulk `{"failures": [...]}` or REST `[{"property": ...}]`."""
    items = body.get("failures") if isinstance(body, dict) else body if isinstance(body, list) else None
    if not items:
        return str(body)[:300]
    parts = []
    for item in items:
        if not isinstance(item, dict):
            parts.append(str(item))
            continue
        where = item.get("field") or item.get("property") or item.get("parameter") or "?"
        why = item.get("constraint") or (item.get("requirement") or {}).get("type") or item.get("type") or ""
        value = f" (value: {item['value']!r})" if item.get("value") not in (None, "") else ""
        parts.append(f"{where}: {why}{value}")
    return "; ".join(parts)


class EloquaClient:
    """`budget`: the company's API budget; by default one built from the settings' limits under
    `settings.budget_key`, in Redis when LEADSYNC_REDIS_URL is set, else in this process."""

    def __init__(self, settings: EloquaSettings, session: requests.Session | None = None,
                 budget: ApiBudget | None = None):
        self.settings = settings
        self.session = session or new_session(settings.http)
        self.session.headers["Accept"] = "application/json"
        self._lock = threading.Lock()
        self._endpoints: Endpoints | None = None
        self._access_token: str | None = None
        self._refresh_token = settings.refresh_token
        self.budget = budget or ApiBudget(settings.budget_key, settings.budget_limits())

    @property
    def login_url(self) -> str:
        return self.settings.login_url.rstrip("/")

    # ------------------------------------------------------------------ discovery

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:
            self.discover()
        return self._endpoints

    def discover(self) -> Endpoints:
        """GET {login_url}/id: who we are and which pod serves the instance."""
        url = f"{self.login_url}/id"
        answer = self.request("GET", url, what=f"Eloqua login ({url})", allow=(401,))
        body = response_json(answer)
        if answer.status_code == 401 or body == NOT_AUTHENTICATED or not isinstance(body, dict):
            raise self._credentials_error(url)
        try:
            urls = body["urls"]
            endpoints = Endpoints(urls["base"].rstrip("/"), urls["apis"]["rest"]["standard"],
                                  urls["apis"]["rest"]["bulk"], str(body.get("site", {}).get("name", "")),
                                  str(body.get("user", {}).get("username", "")))
        except (KeyError, TypeError, AttributeError):
            raise ApiConfigError(f"{url} did not answer like Eloqua's login host (no urls.base / urls.apis); "
                                 "check login_url") from None
        self._endpoints = endpoints
        return endpoints

    def _credentials_error(self, url: str) -> ApiConfigError:
        if self.settings.uses_oauth:
            how = (f"the OAuth token for client {self.settings.client_id!r} was refused; check the client "
                   "credentials and authorize the app again")
        else:
            how = (f"check the site ({self.settings.site!r}), username ({self.settings.username!r}) and password; "
                   "Basic auth is Site\\User:password and the user needs the 'Advanced Users - Marketing' "
                   "permission")
        where = url if url == f"{self.login_url}/id" else f"{url} (login URL {self.login_url})"
        return ApiConfigError(f"Eloqua rejected the credentials at {where} (Not authenticated.): {how}", status=401)

    # ------------------------------------------------------------------ authentication

    def _authorization(self) -> str:
        if not self.settings.uses_oauth:
            s = self.settings
            token = base64.b64encode(f"{s.site}\\{s.username}:{s.password}".encode()).decode("ascii")
            return f"Basic {token}"
        with self._lock:
            if self._access_token is None:
                self._new_token()
            return f"Bearer {self._access_token}"

    def _renew(self, used: str) -> None:
        """A bearer token was refused: get a new one, unless another thread already did."""
        with self._lock:
            if f"Bearer {self._access_token}" == used:
                self._new_token()

    def _new_token(self) -> None:
        """Refresh grant when we hold a refresh token (falling back to the password grant when it is refused
        and a password is configured), else the password grant. Caller holds the lock."""
        s = self.settings
        if self._refresh_token:
            answer = self._token_call({"grant_type": "refresh_token", "refresh_token": self._refresh_token,
                                       "scope": "full"})
            if answer.ok or not (s.username and s.password):
                return self._take_token(answer, "refresh token")
        answer = self._token_call({"grant_type": "password", "scope": "full",
                                   "username": f"{s.site}\\{s.username}", "password": s.password})
        self._take_token(answer, "password grant")

    def _token_call(self, params: dict) -> requests.Response:
        url = f"{self.login_url}/auth/oauth2/token"

        def once() -> requests.Response:
            try:
                with self.budget.call():
                    answer = self.session.post(url, json=params, auth=(self.settings.client_id,
                                                                       self.settings.client_secret or ""),
                                               timeout=self.settings.http.timeout_s)
            except requests.RequestException as exc:
                raise transport_errors(exc, f"Eloqua token endpoint ({url})") from exc
            if answer.status_code == 429 or answer.status_code >= 500:
                raise http_status_error(answer.status_code, answer.text, f"Eloqua token endpoint ({url})",
                                        answer.headers.get("Retry-After"))
            return answer
        return with_retries(once, self.settings.http.retry, self._log_retry)

    def _take_token(self, answer: requests.Response, grant: str) -> None:
        body = response_json(answer)
        if not answer.ok or not isinstance(body, dict) or "access_token" not in body:
            detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else answer.text
            raise ApiConfigError(f"Eloqua refused the OAuth {grant} at {self.login_url}/auth/oauth2/token "
                                 f"(HTTP {answer.status_code}: {detail}); check client_id/client_secret and "
                                 "authorize the app again for a new refresh token", status=answer.status_code)
        self._access_token = body["access_token"]
        if body.get("refresh_token") and body["refresh_token"] != self._refresh_token:
            self._refresh_token = body["refresh_token"]  # they rotate: the old one no longer works
            if self.settings.on_refresh_token is not None:
                self.settings.on_refresh_token(self._refresh_token)

    @property
    def refresh_token(self) -> str | None:
        """The current (rotated) refresh token, for the caller to keep."""
        return self._refresh_token

    # ------------------------------------------------------------------ calls

    def request(self, method: str, url: str, *, what: str, allow: tuple[int, ...] = (), once: bool = False,
                **kwargs) -> requests.Response:
        """One API call, retried on transient errors. Statuses in `allow` are returned, not raised. `once`: a
        call that must not take effect twice (staging import rows) is repeated only after the server refused
        it with a status, never after a timeout or a dropped connection, which may follow its effect."""
        return with_retries(lambda: self._send(method, url, what, allow, kwargs), self.settings.http.retry,
                            self._log_retry, retry_on=answered_refusal if once else ApiTransientError)

    def _send(self, method: str, url: str, what: str, allow: tuple[int, ...], kwargs: dict) -> requests.Response:
        renewed = False
        while True:
            authorization = self._authorization()  # may call the token endpoint (its own budget call)
            extra = dict(kwargs)
            headers = {**extra.pop("headers", {}), "Authorization": authorization}
            try:
                with self.budget.call():
                    answer = self.session.request(method, url, headers=headers,
                                                  timeout=self.settings.http.timeout_s, **extra)
            except requests.RequestException as exc:
                raise transport_errors(exc, what) from exc
            if answer.status_code == 401 and self.settings.uses_oauth and not renewed:
                renewed = True  # an expired bearer token: renew once, then call again
                self._renew(authorization)
                continue
            if answer.ok or answer.status_code in allow:
                return answer
            raise self._error(answer, what)

    def _error(self, answer: requests.Response, what: str) -> ApiError:
        status = answer.status_code
        if status == 401:
            return self._credentials_error(answer.url)
        if status in (400, 409):
            return ApiError(f"{what}: HTTP {status}: {failures_text(response_json(answer))}", status=status)
        if status == 429:
            return ApiTransientError(f"{what}: HTTP 429 Too Many Requests (Eloqua is throttling)", status=429,
                                     retry_after_s=_seconds(answer.headers.get("Retry-After")))
        return http_status_error(status, answer.text, what, answer.headers.get("Retry-After"))

    def _log_retry(self, exc: ApiTransientError, attempt: int) -> None:
        log.warning("Eloqua call failed (attempt %d), retrying: %s", attempt, exc)

    def get_json(self, url: str, what: str, **kwargs) -> object:
        return response_json(self.request("GET", url, what=what, **kwargs))

    # ------------------------------------------------------------------ paging

    def bulk_items(self, path: str, what: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a Bulk API list (fields, rejects, logs, syncs), paged by limit/offset."""
        offset = 0
        while True:
            page = self.get_json(f"{self.endpoints.bulk}{path}", what,
                                 params={**(params or {}), "limit": MAX_LIST_PAGE, "offset": offset})
            items = page.get("items") or []
            yield from items
            offset += len(items)
            if not page.get("hasMore") or not items:
                return

    def rest_elements(self, url: str, what: str, params: dict | None = None) -> Iterator[dict]:
        """Every element of an Application API list, paged by page/count."""
        page_no = 1
        while True:
            page = self.get_json(url, what, params={**(params or {}), "page": page_no, "count": MAX_LIST_PAGE})
            elements = page.get("elements") or []
            yield from elements
            if len(elements) < MAX_LIST_PAGE or page_no * MAX_LIST_PAGE >= int(page.get("total") or 0):
                return
            page_no += 1

    def close(self) -> None:
        self.session.close()


def response_json(answer: requests.Response) -> object:
    try:
        return answer.json()
    except ValueError:
        return answer.text


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
