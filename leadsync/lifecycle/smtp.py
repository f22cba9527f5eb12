"""Sending email over a real SMTP connection: plain, STARTTLS or implicit TLS (ssl), optional login.

Transient problems (a refused or dropped connection, a timeout, a 4xx answer) are retried `smtp.retries`
times; what cannot succeed by waiting (a refused login, a server without STARTTLS, an untrusted
certificate) raises SmtpConfigError at once, with a message that names the setting to fix. A recipient
the server refuses fails that message alone.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from leadsync.lifecycle.settings import SmtpSettings


class SmtpError(RuntimeError):
    """Sending failed; the message says where and what to do."""


class SmtpConfigError(SmtpError):
    """Retrying will not help: a setting or a secret is wrong."""


class SmtpUnavailable(SmtpError):
    """The server could not be reached or kept failing transiently; the next run tries again."""


@dataclass(frozen=True)
class SendResult:
    key: str
    ok: bool
    permanent: bool = False  # a failure the server will not change its mind about (unknown recipient)
    error: str | None = None


class Mailer:
    """Sends messages through one SMTP server. `send` opens one connection for a whole batch."""

    def __init__(self, settings: SmtpSettings, password: str | None = None):
        self.settings = settings
        self._password = password

    @property
    def where(self) -> str:
        s = self.settings
        return f"SMTP server {s.host}:{s.effective_port} (security: {s.security})"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        port = s.effective_port
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, port, timeout=s.timeout_s,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(s.host, port, timeout=s.timeout_s)
            try:
                client.ehlo()
                if s.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise SmtpConfigError(
                            f"{self.where} does not offer STARTTLS; set smtp.security to 'ssl' (port 465) or "
                            "'plain' in mappings/lifecycle.yaml")
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if s.username:
                    password = self._password if self._password is not None else s.password()
                    if not client.has_extn("auth"):
                        raise SmtpConfigError(
                            f"{self.where} offers no login (SMTP AUTH) before encryption; use smtp.security "
                            "'starttls' or 'ssl', or remove smtp.username for an open relay")
                    client.login(s.username, password)
            except BaseException:
                _close(client)
                raise
            return client
        except SmtpError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpConfigError(
                f"{self.where} refused the login of '{s.username}' ({exc.smtp_code} "
                f"{_text(exc.smtp_error)}); check the password in ${s.password_env} and smtp.username") from None
        except ssl.SSLCertVerificationError as exc:
            raise SmtpConfigError(
                f"{self.where}: its TLS certificate is not trusted ({exc.verify_message}); install the CA that "
                "signed it, or point SSL_CERT_FILE at a bundle that holds it") from None
        except ssl.SSLError as exc:
            hint = ("'ssl' is implicit TLS (usually port 465); for port 587 use 'starttls'"
                    if s.security == "ssl" else "check smtp.security and smtp.port")
            raise SmtpConfigError(f"{self.where}: TLS handshake failed ({exc.reason or exc}); {hint}") from None
        except socket.gaierror as exc:
            raise SmtpConfigError(f"{self.where}: host name not found ({exc.strerror}); fix smtp.host") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpUnavailable(f"cannot reach {self.where}: {_describe(exc)}; check smtp.host and "
                                  "smtp.port, and that the server is running") from None

    @contextmanager
    def connection(self) -> Iterator[smtplib.SMTP]:
        """A logged-in connection; transient connection failures are retried."""
        attempt = 0
        while True:
            try:
                client = self._connect()
                break
            except SmtpUnavailable:
                attempt += 1
                if attempt > self.settings.retries:
                    raise
                time.sleep(self.settings.retry_wait_s * attempt)
        try:
            yield client
        finally:
            _close(client)

    def check(self) -> None:
        """Connect (and log in) once: a configuration check that sends nothing."""
        with self.connection():
            pass

    def send(self, messages: Iterable[tuple[str, EmailMessage]]) -> list[SendResult]:
        """Send (key, message) pairs; one result per message. Raises SmtpConfigError / SmtpUnavailable
        when no connection can be made (nothing more can be sent in this run)."""
        results: list[SendResult] = []
        pending = list(messages)
        if not pending:
            return results
        reconnects = 0
        i = 0
        while i < len(pending):
            with self.connection() as client:
                while i < len(pending):
                    key, message = pending[i]
                    try:
                        refused = client.send_message(message)
                    except smtplib.SMTPRecipientsRefused as exc:
                        codes = {code for code, _ in exc.recipients.values()}
                        results.append(SendResult(key, False, permanent=all(c >= 500 for c in codes),
                                                  error=f"recipients refused: {_refused(exc.recipients)}"))
                        i += 1
                        continue
                    except smtplib.SMTPServerDisconnected:
                        reconnects += 1
                        if reconnects > self.settings.retries:
                            raise SmtpUnavailable(f"{self.where} keeps closing the connection") from None
                        break  # reconnect and resend this message
                    except smtplib.SMTPResponseException as exc:
                        results.append(SendResult(key, False, permanent=exc.smtp_code >= 500,
                                                  error=f"{exc.smtp_code} {_text(exc.smtp_error)}"))
                        i += 1
                        continue
                    except (smtplib.SMTPException, OSError) as exc:
                        results.append(SendResult(key, False, error=_describe(exc)))
                        i += 1
                        continue
                    note = f"some recipients refused: {_refused(refused)}" if refused else None
                    results.append(SendResult(key, True, error=note))
                    i += 1
        return results


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refused(recipients: dict) -> str:
    return "; ".join(f"{addr} ({code} {_text(msg)})" for addr, (code, msg) in recipients.items())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
