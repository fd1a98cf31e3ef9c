"""Email over SMTP (aiosmtplib): STARTTLS or implicit TLS, AUTH, a small connection pool.

Each message is multipart (plain text + HTML made from the text by the locale's layout),
with Date and a Message-ID derived from the outbox id: a message sent again after a crash
carries the same Message-ID, so mail systems and clients can drop the duplicate.

Failures are classified for the worker: a 5xx answer about the recipient or the message
is permanent; everything else (connection, timeout, 4xx, authentication, sender refused
— problems of this side that an operator can fix) is retried. Error texts name the SMTP
code and the server's short answer, never the message body or the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email import charset, policy
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

import aiosmtplib
import structlog

from secinfo.domain.model import OutgoingMessage
from secinfo.ports import DeliveryError

log = structlog.get_logger("secinfo.delivery.smtp")

UTF8_QP = charset.Charset("utf-8")
UTF8_QP.body_encoding = charset.QP  # readable bodies, 7-bit safe
WIRE = policy.compat32.clone(linesep="\r\n")

HtmlMaker = Callable[[str, str, str], str]
"""(subject, plain text, locale) -> the HTML part."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    from_address: str
    port: int | None = None
    security: str = "starttls"  # "starttls" | "tls" | "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    from_name: str | None = None
    tls_context: ssl.SSLContext | None = None
    max_connections: int = 4
    idle_seconds: float = 20.0

    @property
    def effective_port(self) -> int:
        return self.port or {"tls": 465, "starttls": 587}.get(self.security, 25)


class SmtpSender:
    def __init__(self, config: SmtpConfig, html: HtmlMaker | None = None) -> None:
        self.config = config
        self.html = html
        self.domain = config.from_address.rpartition("@")[2] or "localhost"
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self._slots: asyncio.Semaphore | None = None

    def build(self, message: OutgoingMessage) -> Message:
        """The MIME message. Built with the compat32 classes: several times faster than
        ``EmailMessage`` with the modern policy, which matters at hundreds a second."""
        email: Message
        text = _text_part(message.body, "plain")
        if self.html is None:
            email = text
        else:
            email = MIMEMultipart("alternative")
            email.attach(text)
            html = self.html(message.subject, message.body, message.locale)
            email.attach(_text_part(html, "html"))
        name = self.config.from_name or ""
        email["From"] = formataddr((name, self.config.from_address), charset="utf-8")
        email["To"] = message.destination
        email["Subject"] = _header(message.subject)
        email["Date"] = format_datetime(message.created_at)
        email["Message-ID"] = f"<{message.id}@{self.domain}>"
        email["Auto-Submitted"] = "auto-generated"
        email["Content-Language"] = message.locale
        return email

    async def send(self, message: OutgoingMessage) -> str:
        email = self.build(message)
        try:
            try:
                await self._send_once(email, reuse=True)
            except aiosmtplib.SMTPServerDisconnected:
                # A pooled connection the server had closed while idle: one fresh try.
                await self._send_once(email, reuse=False)
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = error.recipients[0] if error.recipients else None
            code = refused.code if refused else 0
            raise DeliveryError(
                f"SMTP {code}: recipient refused: {_short(refused.message if refused else '')}",
                permanent=500 <= code < 600,
            ) from None
        except aiosmtplib.SMTPDataError as error:
            raise DeliveryError(
                f"SMTP {error.code}: message refused: {_short(error.message)}",
                permanent=500 <= error.code < 600,
            ) from None
        except aiosmtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP {error.code}: authentication failed") from None
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(f"SMTP {error.code}: {_short(error.message)}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryError(
                f"SMTP connection to {self.config.host}:{self.config.effective_port} failed: "
                f"{type(error).__name__}: {_short(str(error))}"
            ) from None
        return f"<{message.id}@{self.domain}>"

    async def _send_once(self, email: Message, *, reuse: bool) -> None:
        data = email.as_bytes(policy=WIRE)
        async with self._connection(reuse=reuse) as client:
            await client.sendmail(self.config.from_address, [email["To"]], data)

    @contextlib.asynccontextmanager
    async def _connection(self, *, reuse: bool) -> AsyncIterator[aiosmtplib.SMTP]:
        """A connected, authenticated client from the pool; dropped if anything fails."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_connections)
        async with self._slots:
            client = (await self._take_idle() if reuse else None) or await self._connect()
            try:
                yield client
            except BaseException:
                client.close()
                raise
            self._idle.append((client, time.monotonic()))

    async def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and time.monotonic() - since < self.config.idle_seconds:
                return client
            client.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        config = self.config
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.effective_port,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            tls_context=config.tls_context,
            username=config.username,
            password=config.password,
            timeout=config.timeout,
        )
        await client.connect()
        return client

    async def close(self) -> None:
        while self._idle:
            client, _ = self._idle.pop()
            with contextlib.suppress(Exception):
                await client.quit()


def _text_part(text: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, UTF8_QP)
    return part


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _short(text: str) -> str:
    return " ".join(text.split())[:200]
