"""The httptools protocol ``secinfo serve`` runs, fed bytes in process: its header size
limit (memory stays bounded) and its headers deadline with pipelined requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from secinfo.api.slow_clients import (
    HEADERS_TOO_LARGE,
    HeaderTimeoutH11Protocol,
    protocol_with,
)

LIMIT = 4096


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/slow":
        await asyncio.sleep(0.3)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def connect(loop: asyncio.AbstractEventLoop, header_timeout: float = 10.0) -> tuple[Any, Transport]:
    config = Config(app=app, log_config=None, lifespan="off")
    config.load()
    protocol = protocol_with(header_timeout, LIMIT)(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def run(check: Callable[[asyncio.AbstractEventLoop], None]) -> None:
    async def scenario() -> None:
        check(asyncio.get_running_loop())
        await asyncio.sleep(0.01)  # the answers to the requests taken are made

    asyncio.run(scenario())


def request(size: int) -> bytes:
    """A GET whose request line and header block take exactly ``size`` bytes."""
    head = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return head + b"p" * (size - len(head) - 4) + b"\r\n\r\n"


def test_serve_runs_httptools_and_h11_stays_available() -> None:
    protocol = protocol_with(1.0)
    assert issubclass(protocol, HttpToolsProtocol)
    assert protocol.header_timeout == 1.0  # type: ignore[attr-defined]
    assert protocol_with(1.0, LIMIT).max_header_bytes == LIMIT  # type: ignore[attr-defined]
    assert issubclass(HeaderTimeoutH11Protocol, H11Protocol)


@pytest.mark.parametrize("piece", [1, 7, 1000, 1 << 16])
def test_headers_up_to_the_limit_are_taken_in_any_pieces(piece: int) -> None:
    def check(loop: asyncio.AbstractEventLoop) -> None:
        protocol, transport = connect(loop)
        data = request(LIMIT)
        for start in range(0, len(data), piece):
            protocol.data_received(data[start : start + piece])
        assert not transport.closed
        assert protocol.cycle is not None and protocol.scope["path"] == "/x"

    run(check)


@pytest.mark.parametrize("piece", [1, 7, 1000, 1 << 16])
def test_one_byte_over_the_limit_is_refused_in_any_pieces(piece: int) -> None:
    def check(loop: asyncio.AbstractEventLoop) -> None:
        protocol, transport = connect(loop)
        data = request(LIMIT + 1)
        for start in range(0, len(data), piece):
            protocol.data_received(data[start : start + piece])
        assert transport.closed
        assert bytes(transport.written) == HEADERS_TOO_LARGE
        assert protocol.cycle is None  # the application never saw it

    run(check)


def test_an_endless_header_line_is_refused_before_it_outgrows_the_limit() -> None:
    def check(loop: asyncio.AbstractEventLoop) -> None:
        protocol, transport = connect(loop)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        fed = 0
        while not transport.closed and fed < 1 << 20:
            protocol.data_received(b"a" * 1000)
            fed += 1000
        assert fed <= LIMIT + 1000  # refused as soon as the block is certainly too large
        assert bytes(transport.written) == HEADERS_TOO_LARGE
        protocol.data_received(b"a" * 1000)  # discarded
        assert bytes(transport.written) == HEADERS_TOO_LARGE

    run(check)


def test_many_small_headers_over_the_limit_are_refused() -> None:
    def check(loop: asyncio.AbstractEventLoop) -> None:
        protocol, transport = connect(loop)
        lines = b"".join(b"X-%d: 1\r\n" % index for index in range(1000))
        protocol.data_received(b"GET / HTTP/1.1\r\n" + lines + b"\r\n")
        assert transport.closed and bytes(transport.written) == HEADERS_TOO_LARGE

    run(check)


def test_a_body_is_not_counted_and_trailers_are() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        protocol, transport = connect(loop)
        body = b"b" * 100_000
        protocol.data_received(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        for start in range(0, len(body), 1000):
            protocol.data_received(body[start : start + 1000])
        await asyncio.sleep(0.01)
        assert transport.written.startswith(b"HTTP/1.1 200 OK") and not transport.closed
        chunked = (
            b"POST /y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n"
        )
        # Trailers over the limit: the connection closes (the request cannot end).
        protocol, transport = connect(loop)
        protocol.data_received(chunked + b"X-Trailer: " + b"t" * LIMIT + b"\r\n\r\n")
        assert transport.closed and not transport.written
        # A trailer line that never ends: closed once it is certainly over the limit.
        protocol, transport = connect(loop)
        protocol.data_received(chunked + b"X-Trailer: ")
        fed = 0
        while not transport.closed and fed < 1 << 20:
            protocol.data_received(b"t" * 1000)
            fed += 1000
        assert transport.closed and fed <= LIMIT + 1000

    asyncio.run(scenario())


def test_a_pipelined_request_over_the_limit_closes_after_the_one_in_flight() -> None:
    async def scenario() -> None:
        protocol, transport = connect(asyncio.get_running_loop())
        protocol.data_received(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + request(LIMIT + 1))
        assert not transport.closed and not transport.written
        await asyncio.sleep(0.5)
        assert transport.written.startswith(b"HTTP/1.1 200 OK")
        assert b"connection: close" in transport.written
        assert transport.closed

    asyncio.run(scenario())


def test_the_deadline_spares_a_pipelined_request_being_answered() -> None:
    # The second request's headers were in before the first answer: the deadline armed
    # then must not close the connection while the (slow) second answer is being made.
    async def scenario() -> None:
        # /slow takes 0.3 s; the deadline is armed after the first answer (0.2 s, spared)
        # and again after the second one (at 0.5 s).
        protocol, transport = connect(asyncio.get_running_loop(), header_timeout=0.2)
        get = b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"
        protocol.data_received(get % b"fast" + get % b"slow")
        await asyncio.sleep(0.4)
        assert transport.written.count(b"HTTP/1.1 200 OK") == 2
        assert not transport.closed
        await asyncio.sleep(0.4)  # then no headers come: closed at the deadline
        assert transport.closed

    asyncio.run(scenario())
