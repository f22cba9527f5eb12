"""Logging in with simple-salesforce: OAuth client credentials, JWT bearer, or username-password.

simple-salesforce keeps the login as a partial and logs in again by itself when a REST call answers 401
INVALID_SESSION_ID; Bulk API 2.0 calls do not, which `SalesforceClient` covers by logging in afresh.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiTransientError
from leadsync.connectors.salesforce.source.settings import SalesforceSettings

_FIXES = {
    "client_credentials": ("check the connected app's consumer key and secret, that its client credentials "
                           "flow is enabled with a Run As user, and that login_url is the org's My Domain "
                           "URL (https://<MyDomain>.my.salesforce.com)"),
    "jwt": ("check the consumer key, the username, that the connected app holds the certificate of the "
            "configured private key, and that the user is pre-authorised (admin approved) for the app"),
    "password": ("check the username, the password and security token, and the consumer key and secret; "
                 "Salesforce is retiring this flow (orgs since Summer '23 block it): prefer "
                 "client_credentials or jwt"),
}


def login(settings: SalesforceSettings, session: requests.Session) -> Salesforce:
    """A logged-in simple-salesforce client; ApiConfigError (bad credentials) or ApiTransientError."""
    try:
        return _login(settings, session)
    except SalesforceAuthenticationFailed as exc:
        raise login_error(settings, exc) from exc
    except (AttributeError, KeyError) as exc:  # simple-salesforce reading an error body it did not expect
        raise ApiTransientError(f"Salesforce login at {settings.login_url} ({settings.auth} flow): "
                                f"unexpected token endpoint answer ({type(exc).__name__}: {exc})") from exc


def _login(settings: SalesforceSettings, session: requests.Session) -> Salesforce:
    common = {"session": session, "version": settings.api_version}
    if settings.auth == "client_credentials":
        return Salesforce(consumer_key=settings.consumer_key, consumer_secret=settings.consumer_secret,
                          domain=settings.sf_domain, **common)
    if settings.auth == "jwt":
        audience, token_host = settings.jwt_domains
        key = settings.private_key
        if key is None:
            path = Path(settings.private_key_path or "")
            if not path.is_file():
                raise ApiConfigError(f"Salesforce jwt login: private key file {path} not found; set "
                                     "private_key_path to the PEM key of the connected app's certificate")
            key = path.read_text()
        return Salesforce(username=settings.username, consumer_key=settings.consumer_key, privatekey=key,
                          domain=audience, instance_url=token_host, **common)
    password = (settings.password or "") + (settings.security_token or "")
    return Salesforce(username=settings.username, password=password, consumer_key=settings.consumer_key,
                      consumer_secret=settings.consumer_secret, domain=settings.sf_domain, **common)


# "Service Unavailable" → 503: simple-salesforce's client-credentials login passes the reason phrase on
_REASONS = {status.phrase: status.value for status in HTTPStatus if status.value >= 429}


def login_error(settings: SalesforceSettings, exc: SalesforceAuthenticationFailed) -> ApiError:
    """A failed login as the user should read it: where, with which flow, what Salesforce said, the fix."""
    code, message = exc.code, exc.auth_message
    where = f"Salesforce login at {settings.login_url} ({settings.auth} flow)"
    if isinstance(code, str) and code in _REASONS:  # some flows report the HTTP reason phrase, not a code
        code = _REASONS[code]
    if isinstance(code, int) and (code >= 500 or code == 429):
        return ApiTransientError(f"{where}: HTTP {code} {message[:200]}", status=code)
    said = f"{code}: {message}" if code else message
    return ApiConfigError(f"{where} failed: {said}. Fix: {_FIXES[settings.auth]}.",
                          vendor_code=str(code) if code else None, status=400)
