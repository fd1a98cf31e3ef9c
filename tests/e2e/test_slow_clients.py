"""Issue 11 item 8: ``secinfo serve`` closes a connection whose headers do not finish
within ``SECINFO_HTTP_HEADER_TIMEOUT_SECONDS``, while complete requests are served."""

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
