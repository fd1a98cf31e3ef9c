"""Issue 11 item 8: ``secinfo serve`` closes a connection whose headers do not finish
within ``SECINFO_HTTP_HEADER_TIMEOUT_SECONDS``, while complete requests are served; and it
refuses a header block over ``SECINFO_HTTP_MAX_HEADER_BYTES``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.test_serve_over_http import free_port

HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 4096
# uvicorn's h11 protocol's answer to headers over its limit, kept byte for byte.
REFUSAL = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"Invalid HTTP request received."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    folder = tmp_path_factory.mktemp("slow")
    port = free_port()
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(folder),
        "SECINFO_DATABASE_URL": f"sqlite:///{folder}/secinfo.db",
        "SECINFO_ARGON2_MEMORY_KIB": "8192",
        "SECINFO_HTTP_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "SECINFO_HTTP_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "secinfo", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"secinfo serve did not start: {process.communicate()[0]}")
    yield url, port
    process.terminate()
    process.communicate(timeout=20)


def seconds_until_closed(port: int, first_bytes: bytes) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT * 10) as sock:
        started = time.monotonic()
        sock.sendall(first_bytes)
        while sock.recv(4096):
            pass
        return time.monotonic() - started


def answer_to(port: int, request: bytes) -> bytes:
    """Everything the server sends back until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT * 10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def request_of(size: int) -> bytes:
    """A GET /healthz whose request line and header block take exactly ``size`` bytes."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    return head + b"p" * (size - len(head) - 4) + b"\r\n\r\n"


def test_a_connection_with_unfinished_headers_is_closed_in_time(server: tuple[str, int]) -> None:
    url, port = server
    # Headers started but never finished (no blank line): closed at the deadline.
    waited = seconds_until_closed(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
    assert HEADER_TIMEOUT * 0.8 <= waited <= HEADER_TIMEOUT + 1.5, waited
    # A connection that sends nothing at all: closed too.
    assert seconds_until_closed(port, b"") <= HEADER_TIMEOUT + 1.5
    # Complete requests are served, also a second one on the same kept-alive connection.
    with httpx.Client(base_url=url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz").status_code == 200


def test_headers_over_the_limit_are_refused_and_the_connection_closed(
    server: tuple[str, int],
) -> None:
    _, port = server
    served = answer_to(port, request_of(MAX_HEADER_BYTES))
    assert served.startswith(b"HTTP/1.1 200 OK\r\n"), served[:200]
    assert served.endswith(b'{"status":"ok"}')
    # One byte more, even in a single segment (which h11 let through): refused, closed.
    assert answer_to(port, request_of(MAX_HEADER_BYTES + 1)) == REFUSAL
    # A header line that never ends is refused at once, not at the headers deadline.
    started = time.monotonic()
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 2 * MAX_HEADER_BYTES
    assert answer_to(port, endless) == REFUSAL
    assert time.monotonic() - started < HEADER_TIMEOUT * 0.8


def test_pipelined_requests_are_answered_and_the_deadline_follows(
    server: tuple[str, int],
) -> None:
    _, port = server
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT * 10) as sock:
        sock.sendall(get + get)
        received = b""
        while received.count(b'{"status":"ok"}') < 2:
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        answered = time.monotonic()
        assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert b"connection: close" not in received.lower()
        # Kept alive; the next request's headers then never finish: closed at the deadline
        # counted from the end of the last answer.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        while sock.recv(4096):
            pass
        waited = time.monotonic() - answered
    assert HEADER_TIMEOUT * 0.8 <= waited <= HEADER_TIMEOUT + 1.5, waited
