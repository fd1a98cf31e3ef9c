"""A real webhook receiver on 127.0.0.1 (a threaded HTTP server) that can be stopped and
started again on its port, answer with any status, or take its time; and checks of what
it received with the ``standardwebhooks`` reference library."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from tests.delivery_support import free_port


@dataclass
class Delivered:
    headers: dict[str, str]
    body: str
    status: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Inbox:
    # The status to answer with; a callable gets the request's payload.
    status: int | Callable[[dict[str, Any]], int] = 204
    delay: float = 0.0
    received: list[Delivered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cut_off: int = 0  # requests whose body never came whole: not received

    def answer(self, payload: dict[str, Any]) -> int:
        return self.status(payload) if callable(self.status) else self.status

    def all(self) -> list[Delivered]:
        with self.lock:
            return list(self.received)

    def accepted(self) -> list[Delivered]:
        return [item for item in self.all() if 200 <= item.status < 300]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


class WebhookReceiver:
    def __init__(self, inbox: Inbox | None = None) -> None:
        self.inbox = inbox or Inbox()
        self.port = free_port()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/secinfo"

    def start(self) -> WebhookReceiver:
        inbox = self.inbox

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender went away mid-request (a worker killed between writing
                    # the headers and the body): like any HTTP server, hand nothing on.
                    inbox.cut_off += 1
                    self.close_connection = True
                    return
                body = raw.decode()
                if inbox.delay:
                    time.sleep(inbox.delay)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {}
                status = inbox.answer(payload)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with inbox.lock:
                    inbox.received.append(Delivered(headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def verify_all(received: list[Delivered], *secrets: str) -> None:
    """Every delivery's signature checks out with each of ``secrets`` (the reference
    library raises on a bad signature or a stale timestamp)."""
    assert received, "nothing was received"
    for item in received:
        for secret in secrets:
            verified = Webhook(secret).verify(item.body, item.headers)
            assert verified == item.payload
