"""Real servers the delivery tests talk to: an SMTP server (aiosmtpd) and an HTTP SMS
endpoint, both on 127.0.0.1 in a thread; and helpers to queue messages and read rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql.repositories import SqlOutbox
from secinfo.adapters.sql.tables import delivery_attempts, dev_mailbox, outbox, webhook_endpoints
from secinfo.bootstrap import App, build
from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage
from secinfo.ports import Clock
from secinfo.services.deps import new_id
from tests.support import MovableClock

CODE = "428913"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


# -- SMTP ----------------------------------------------------------------------------------
@dataclass
class Received:
    raw: bytes
    tls: bool
    login: bytes | None
    recipients: list[str]

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        found = MESSAGE_ID.search(self.raw)
        assert found, "no Message-ID header"
        return found[1].decode()


MESSAGE_ID = re.compile(rb"^Message-ID: (\S+)\r?$", re.MULTILINE | re.IGNORECASE)


@dataclass
class SmtpInbox:
    """The aiosmtpd handler: records every message it accepts (parsed when read)."""

    delay: float = 0.0
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.received.append(
                Received(
                    envelope.original_content,
                    _over_tls(server, session),
                    login,
                    list(envelope.rcpt_tos),
                )
            )
        return "250 2.0.0 OK queued"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [item.message_id for item in self.received]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


def _over_tls(server: Any, session: Any) -> bool:
    """STARTTLS sets ``session.ssl``; implicit TLS shows on the transport."""
    implicit = server.transport.get_extra_info("ssl_object") is not None
    return bool(session.ssl) or implicit


class SmtpServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, inbox: SmtpInbox | None = None, **options: Any) -> None:
        self.inbox = inbox or SmtpInbox()
        self.port = free_port()
        self.options = options
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **self.options
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def password_checker(login: bytes, password: bytes) -> Callable[..., AuthResult]:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (login, password)
        return AuthResult(success=ok, handled=False, auth_data=data)

    return authenticator


# -- HTTP (SMS) ----------------------------------------------------------------------------
@dataclass
class HttpCall:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    status: int = 201
    payload: Any = None
    delay: float = 0.0


class SmsEndpoint:
    """A local HTTP server: records requests, answers from a script (then 201)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[HttpCall] = []
        self.script: list[Scripted] = []
        self.delay = delay  # of every answer not scripted
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing arrived
                    self.close_connection = True
                    return
                with endpoint.lock:
                    endpoint.calls.append(
                        HttpCall(self.command, self.path, dict(self.headers.items()), body)
                    )
                    number = len(endpoint.calls)
                    answer = (
                        endpoint.script.pop(0)
                        if endpoint.script
                        else Scripted(delay=endpoint.delay)
                    )
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.payload
                if payload is None:
                    payload = {"sid": f"SM{number:032d}", "id": f"wh-{number}"}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

            do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> SmsEndpoint:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        with self.lock:
            return len(self.calls)

    def all(self) -> list[HttpCall]:
        with self.lock:
            return list(self.calls)


# -- the outbox ----------------------------------------------------------------------------
async def queue_messages(
    app: App,
    channel: Channel,
    destinations: list[str],
    *,
    template: str = "code_integrator",
    locale: str = "en",
    code: str = CODE,
    ttl: timedelta = timedelta(minutes=10),
) -> list[str]:
    """Render and queue messages the way services do, in one transaction; return ids."""
    now = app.deps.clock.now()
    box = app.deliverer.queue.box  # type: ignore[attr-defined]
    ids = []
    async with app.engine.begin() as connection:
        store = SqlOutbox(connection, box)
        for destination in destinations:
            rendered = app.deps.renderer.render(
                template,
                channel,
                locale,
                {
                    "product": app.settings.product_name,
                    "domain": app.settings.web_domain,
                    "code": code,
                    "account": "al*****@example.com",
                    "minutes": 10,
                },
            )
            message = OutgoingMessage(
                id=new_id("msg"),
                channel=channel,
                destination=destination,
                template=template,
                locale=locale,
                subject=rendered.subject,
                body=rendered.text,
                created_at=now,
                carries_secret=True,
                expires_at=now + ttl,
                next_attempt_at=now,
            )
            await store.add(message)
            ids.append(message.id)
    return ids


async def outbox_rows(app: App) -> list[Any]:
    async with app.engine.connect() as connection:
        return list(await connection.execute(outbox.select().order_by(outbox.c.created_at)))


async def attempt_rows(app: App, message_id: str | None = None) -> list[Any]:
    query = delivery_attempts.select().order_by(delivery_attempts.c.id)
    if message_id:
        query = query.where(delivery_attempts.c.message_id == message_id)
    async with app.engine.connect() as connection:
        return list(await connection.execute(query))


async def empty_delivery_tables(app: App) -> None:
    async with app.engine.begin() as connection:
        for table in (delivery_attempts, outbox, dev_mailbox, webhook_endpoints):
            await connection.execute(table.delete())


async def deliver_all(app: App) -> None:
    while await app.deliverer.deliver_due():
        pass


def tls_contexts(tmp_path: Any) -> tuple[ssl.SSLContext, str]:
    """A server context with a self-signed (test CA) certificate for 127.0.0.1, and the
    CA file a client must trust."""
    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, str(ca_file)


@contextlib.asynccontextmanager
async def delivery_app(
    database_url: str, data_dir: Path, *, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[App]:
    """The app built from settings (real senders when configured), empty outbox."""
    from tests.conftest import make_settings

    app = build(make_settings(database_url, data_dir, **settings), clock=clock or MovableClock())
    try:
        if database_url.startswith("sqlite"):
            await migrate(app.engine)
        await empty_delivery_tables(app)
        yield app
    finally:
        await app.close()
