"""Who may call the sandbox: OAuth 2.0 token endpoint (client credentials, JWT bearer, username-password,
authorization code and refresh token: the last two with `oauth_web`),
the SOAP login simple-salesforce uses for username + password + security token, and the session registry.

Errors have Salesforce's shapes: the token endpoint answers 400 {"error", "error_description"}; the SOAP
login a SOAP fault with sf:exceptionCode; an unknown or expired session 401
[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}] (in `app`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from leadsync.connectors.salesforce.sandbox.ids import to_18
from leadsync.connectors.salesforce.sandbox.oauth_web import WebServerFlow

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class SandboxCredentials:
    """The demo org's connected app and integration user. `jwt_certificates` are PEM certificates or public
    keys accepted for JWT bearer assertions (the sandbox adds its own demo key pair's public key)."""

    client_id: str = "3MVG9leadsync.sandbox.consumer.key"
    client_secret: str = "leadsync-sandbox-secret"
    username: str = "integration@leadsync.sandbox"
    password: str = "sandbox-password"
    security_token: str = "SANDBOXTOKEN123"
    my_domain: str = "leadsync-sandbox"  # client credentials: Salesforce(domain="leadsync-sandbox.my", ...)
    org_id: str = to_18("00D8d000000LsYn")
    user_id: str = to_18("0058d000000LsYn")
    jwt_certificates: list[str] = field(default_factory=list)
    # web-server flow: the connected app's callback URLs (loopback ones are accepted too, see oauth_web), and
    # a standing refresh token for tools configured with one
    callback_urls: tuple[str, ...] = ("https://login.salesforce.com/services/oauth2/success",
                                      "http://localhost:1717/OauthRedirect")
    refresh_token: str = "5Aep861leadsync.sandbox.standing.refresh.token"


def generate_jwt_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair for JWT bearer demos: (private key PEM, public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


def public_key_pem(private_pem: str) -> str:
    """The public key (PEM) of a private key (PEM), e.g. to trust a key kept from an earlier run."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _public_key(pem: str):
    data = pem.encode()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


class OAuthError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.body = {"error": error, "error_description": description}


@dataclass
class Session:
    token: str
    user_id: str
    issued_at: float
    expires_at: float | None


class SessionRegistry:
    """Issued access tokens. `expire_all()` is the "token expiry" fault switch: every client must log in
    again. `timeout_s` mimics the org's session timeout (None: sessions never time out)."""

    def __init__(self, org_id: str, timeout_s: float | None = None):
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self.org_id = org_id
        self.timeout_s = timeout_s
        self.logins = 0  # successful logins so far (tests count re-logins with it)

    def issue(self, user_id: str) -> Session:
        now = time.time()
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(72)}"
        session = Session(token, user_id, now, now + self.timeout_s if self.timeout_s else None)
        with self._lock:
            self._sessions[token] = session
            self.logins += 1
        return session

    def valid(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at is not None and time.time() >= session.expires_at:
                del self._sessions[token]
                return None
            return session

    def expire_all(self) -> int:
        """End every session now; returns how many there were."""
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        return count

    def revoke(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)


class Authenticator:
    """Checks logins against `SandboxCredentials` and issues sessions."""

    def __init__(self, credentials: SandboxCredentials, sessions: SessionRegistry,
                 instance_url: Callable[[], str]):
        self.credentials = credentials
        self.sessions = sessions
        self.instance_url = instance_url
        self._jwt_keys = [_public_key(pem) for pem in credentials.jwt_certificates]
        self._signing_key = secrets.token_bytes(32)
        self.web = WebServerFlow(credentials.client_id, credentials.client_secret, credentials.callback_urls,
                                 credentials.refresh_token)

    def add_jwt_certificate(self, pem: str) -> None:
        self._jwt_keys.append(_public_key(pem))

    # -------------------------------------------------------------------------- OAuth 2.0 token endpoint

    def token(self, form: Mapping[str, str], authorization: str | None) -> dict:
        """The token endpoint's JSON answer for a form-encoded request; raises OAuthError."""
        grant = form.get("grant_type", "")
        if grant == "client_credentials":
            self._check_client(*_client_of(form, authorization))
            return self._grant(scope="api")
        if grant == "authorization_code":
            self._check_client(*_client_of(form, authorization))
            granted = self.web.exchange_code(form)
            return self._grant(scope=granted.scope, refresh_token=granted.refresh_token)
        if grant == "refresh_token":
            self._check_client(*_client_of(form, authorization))
            return self._grant(scope=self.web.use_refresh_token(form).scope)
        if grant == "password":
            self._check_client(form.get("client_id"), form.get("client_secret"))
            creds = self.credentials
            password = form.get("password") or ""
            if form.get("username") != creds.username or password not in (
                    creds.password, creds.password + creds.security_token):
                raise OAuthError("invalid_grant", "authentication failure")
            return self._grant(scope=None)
        if grant == JWT_GRANT:
            self._check_assertion(form.get("assertion") or "")
            return self._grant(scope="api")
        if not grant:
            raise OAuthError("invalid_request", "grant type not supported")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _check_client(self, client_id: str | None, secret: str | None) -> None:
        if client_id != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not secret or not hmac.compare_digest(secret, self.credentials.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _check_assertion(self, assertion: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "invalid assertion")
        claims = None
        for key in self._jwt_keys:
            try:
                claims = jwt.decode(assertion, key, algorithms=["RS256"],
                                    options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]})
                break
            except jwt.ExpiredSignatureError:
                raise OAuthError("invalid_grant", "expired authorization code") from None
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims is None:
            raise OAuthError("invalid_grant", "invalid assertion")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        accepted = {*LOGIN_AUDIENCES, self.instance_url(),
                    f"https://{self.credentials.my_domain}.my.salesforce.com"}
        if not any(str(a).rstrip("/") in accepted for a in audiences):
            raise OAuthError("invalid_grant", "audience is invalid")
        if claims["iss"] != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims["sub"] != self.credentials.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def _grant(self, scope: str | None, refresh_token: str | None = None) -> dict:
        creds = self.credentials
        session = self.sessions.issue(creds.user_id)
        issued_at = str(int(session.issued_at * 1000))
        identity = f"https://login.salesforce.com/id/{creds.org_id}/{creds.user_id}"
        signature = base64.b64encode(hmac.new(self._signing_key, (identity + issued_at).encode(),
                                              hashlib.sha256).digest()).decode()
        body = {"access_token": session.token, **({"refresh_token": refresh_token} if refresh_token else {}),
                "instance_url": self.instance_url().rstrip("/"),
                "id": identity, "token_type": "Bearer", "issued_at": issued_at, "signature": signature}
        if scope:
            body["scope"] = scope
        return body

    # -------------------------------------------------------------------------- SOAP login (partner API)

    def soap_login(self, envelope: bytes, version: str) -> tuple[int, str]:
        """(status, XML) for a partner-WSDL <login> request."""
        try:
            root = ET.fromstring(envelope)
        except ET.ParseError:
            return 500, _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user "
                                                     "locked out.")
        values = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
        creds = self.credentials
        password = values.get("password", "")
        if values.get("username") != creds.username or password not in (
                creds.password + creds.security_token, creds.password):
            return 500, _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user "
                                                     "locked out.")
        session = self.sessions.issue(creds.user_id)
        base = self.instance_url().rstrip("/")
        return 200, _soap_login_response(session.token, f"{base}/services/Soap/u/{version}/{creds.org_id[:15]}",
                                         f"{base}/services/Soap/m/{version}/{creds.org_id[:15]}",
                                         creds.user_id, creds.username, creds.org_id)


def _client_of(form: Mapping[str, str], authorization: str | None) -> tuple[str | None, str | None]:
    """(client_id, client_secret) from HTTP Basic auth, else from the form."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "invalid client credentials") from None
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _soap_fault(code: str, message: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: '
            f'{escape(message)}</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">'
            f'<sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}'
            '</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>')


def _soap_login_response(token: str, server_url: str, metadata_url: str, user_id: str, username: str,
                         org_id: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f'<metadataServerUrl>{escape(metadata_url)}</metadataServerUrl><passwordExpired>false'
            f'</passwordExpired><sandbox>true</sandbox><serverUrl>{escape(server_url)}</serverUrl>'
            f'<sessionId>{escape(token)}</sessionId><userId>{user_id}</userId><userInfo>'
            f'<organizationId>{org_id}</organizationId><userName>{escape(username)}</userName>'
            '</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>')
