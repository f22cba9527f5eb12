"""The SMTP client against real servers on loopback (aiosmtpd): STARTTLS and implicit TLS with login, and
the messages a user gets for a wrong password, an unreachable server or a security mismatch."""

import ssl
from email.message import EmailMessage

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from leadsync.connectors.loopback_ports import free_port as loopback_port

from leadsync.config import ConfigError
from leadsync.lifecycle.settings import SmtpSettings
from leadsync.lifecycle.smtp import Mailer, SmtpConfigError, SmtpUnavailable

USER, PASSWORD = "leadsync", "s3cret-pass"


class Handler:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.authenticated, envelope.rcpt_tos))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
        auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ctx, path


def message(to: str = "dana@bluepeak.example") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "leads@supplier.example", to, "hello"
    msg.set_content("hi")
    return msg


def settings(port: int, security: str, login: bool = True) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security=security, from_address="leads@supplier.example",
                        username=USER if login else None, password_env="LEADSYNC_TEST_SMTP_PASSWORD" if login else None,
                        retries=1, retry_wait_s=0, timeout_s=5)


def serve(free_port, **kwargs):
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller, handler


@pytest.fixture
def free_port():
    return loopback_port


def test_starttls_with_login_sends(tls, free_port, monkeypatch):
    ctx, ca = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    monkeypatch.setenv("LEADSYNC_TEST_SMTP_PASSWORD", PASSWORD)
    server, handler = serve(free_port, tls_context=ctx, require_starttls=True, authenticator=authenticator,
                            auth_required=True)
    try:
        (result,) = Mailer(settings(server.port, "starttls")).send([("m1", message())])
        assert result.ok
        assert handler.messages == [(True, ["dana@bluepeak.example"])]
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_ssl_with_login_sends_and_a_wrong_password_says_what_to_fix(tls, free_port, monkeypatch):
    ctx, ca = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    server, handler = serve(free_port, ssl_context=ctx, authenticator=authenticator, auth_required=True,
                            auth_require_tls=False)
    try:
        monkeypatch.setenv("LEADSYNC_TEST_SMTP_PASSWORD", PASSWORD)
        assert Mailer(settings(server.port, "ssl")).send([("m1", message())])[0].ok
        monkeypatch.setenv("LEADSYNC_TEST_SMTP_PASSWORD", "wrong")
        with pytest.raises(SmtpConfigError, match=r"refused the login of 'leadsync'.*LEADSYNC_TEST_SMTP_PASSWORD"):
            Mailer(settings(server.port, "ssl")).check()
        monkeypatch.delenv("LEADSYNC_TEST_SMTP_PASSWORD")
        with pytest.raises(ConfigError, match="LEADSYNC_TEST_SMTP_PASSWORD is not set"):
            Mailer(settings(server.port, "ssl")).check()
    finally:
        server.stop()
    assert len(handler.messages) == 1


def test_security_mismatches_and_unreachable_servers_are_explained(tls, free_port, monkeypatch):
    _, ca = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    plain, _ = serve(free_port)
    try:
        with pytest.raises(SmtpConfigError, match="does not offer STARTTLS"):
            Mailer(settings(plain.port, "starttls", login=False)).check()
        with pytest.raises(SmtpConfigError, match="TLS handshake failed"):
            Mailer(settings(plain.port, "ssl", login=False)).check()
    finally:
        plain.stop()
    with pytest.raises(SmtpUnavailable, match=r"cannot reach SMTP server 127.0.0.1:\d+.*connection refused"):
        Mailer(settings(free_port(), "plain", login=False)).check()


def test_untrusted_certificate_names_the_fix(free_port, monkeypatch):
    ca = trustme.CA()  # the client does not trust this CA
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    server, _ = serve(free_port, tls_context=ctx)
    try:
        with pytest.raises(SmtpConfigError, match="certificate is not trusted"):
            Mailer(settings(server.port, "starttls", login=False)).check()
    finally:
        server.stop()


def test_a_refused_recipient_fails_that_message_only(picky_smtp_server):
    results = Mailer(settings(picky_smtp_server.port, "plain", login=False)).send(
        [("bad", message("nobody@x.example")), ("good", message())])
    assert [(r.key, r.ok, r.permanent) for r in results] == [("bad", False, True), ("good", True, False)]
    assert "550" in results[0].error
