"""Slow clients and oversized headers: the HTTP protocol ``secinfo serve`` runs.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for
the headers of a request that has started: 3,000 such connections held 3,019 file
descriptors for a minute. These protocols give every request its headers deadline, from
the connection's first byte or from the end of the previous response.

``serve`` runs uvicorn's httptools protocol (llhttp, a C parser: h11 is pure Python and
cost a measurable share of CPU per request). llhttp has no limit on the size of a
request's headers, so :class:`HeaderLimitsHttpToolsProtocol` enforces
``SECINFO_HTTP_MAX_HEADER_BYTES`` itself; the h11 protocol, kept as the fallback when
httptools is missing, leaves that limit to h11 (``h11_max_incomplete_event_size``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HTTPTOOLS = False
else:
    HTTPTOOLS = True

DEFAULT_MAX_HEADER_BYTES = 16 * 1024

# What uvicorn's h11 protocol answers for a header block over h11's limit (byte for
# byte), so the refusal did not change with the parser.
HEADERS_TOO_LARGE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"Invalid HTTP request received."
)

# A request line is "<method> <target> HTTP/1.1\r\n" and the header block ends with a
# blank line: 14 bytes besides the method and the target. A header line is
# "<name>: <value>\r\n": 4 bytes besides its name and value.
_REQUEST_LINE_AND_BLANK_LINE = 14
_HEADER_LINE = 4


class _HeaderDeadline:
    """The headers deadline, shared by both protocols: armed when the connection opens
    and after every complete response; when it passes, the connection is closed if no
    request's headers completed since and no response is in flight."""

    header_timeout: float = 10.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None

    # Cooperative overrides: each protocol class puts this mixin first in its bases.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def handle_websocket_upgrade(self, *event: Any) -> None:
        # h11's takes the upgrade event, httptools' nothing.
        self._cancel_header_timer()
        super().handle_websocket_upgrade(*event)  # type: ignore[misc]

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        # Both protocols make a new ``cycle`` when a request's headers are complete.
        self._header_timer = self.loop.call_later(
            self.header_timeout, self._headers_overdue, self.cycle
        )

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_overdue(self, waiting_after: Any) -> None:
        self._header_timer = None
        cycle = self.cycle
        if cycle is not waiting_after:
            return  # a request's headers completed in time
        if cycle is not None and not cycle.response_complete:
            return  # a (pipelined) request is being answered: nothing is late
        if not self.transport.is_closing():
            self.transport.close()


class HeaderTimeoutH11Protocol(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the headers deadline (the fallback)."""


if HTTPTOOLS:

    class _HeadersTooLarge(Exception):
        """Raised in a parser callback to stop llhttp: the headers are over the limit."""

    class HeaderLimitsHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with the headers deadline and a header size limit.

        A request's header block (request line, header lines, blank line) may take
        ``max_header_bytes``; past that the request is refused as h11 refuses it, and the
        connection closes. Lines llhttp reports count as ``Name: value`` and CRLF;
        the bytes fed that it has not reported yet (a header line it is still
        collecting) are counted too, so the refusal comes as soon as the block is
        certainly too large and no endless header line can grow memory. Trailers of a
        chunked body have the same budget.
        """

        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
        _reading_headers = False  # from a request's first byte to its blank line
        _header_bytes = 0  # of the request line and headers (or trailers) being parsed
        _reported = 0  # bytes of URL, header lines and body the parser has reported
        _unreported = 0  # a lower bound of the bytes fed that the parser holds unreported
        _refused = False

        def data_received(self, data: bytes) -> None:
            # uvicorn's, with the size limit.
            if self._refused:
                return  # discarded: the connection closes after the response in flight
            self._unset_keepalive_if_required()
            reported = self._reported
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                if self._header_bytes > self.max_header_bytes:  # raised by _count
                    self._refuse()
                    return
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            reported = self._reported - reported
            if self._reading_headers:
                # What this data brought and the parser did not report is still held.
                self._unreported = max(0, self._unreported + len(data) - reported)
                if self._header_bytes + self._unreported > self.max_header_bytes:
                    self._refuse()
            elif reported:
                self._unreported = 0
            else:
                # A chunk-size line or a trailer still collecting, or data after the end.
                self._unreported += len(data)
                if self._unreported > self.max_header_bytes:
                    self._refuse()

        def _count(self, size: int) -> None:
            self._reported += size
            self._header_bytes += size
            if self._header_bytes > self.max_header_bytes:
                raise _HeadersTooLarge  # stops llhttp; feed_data raises a parser error

        def _refuse(self) -> None:
            self._refused = True
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                if cycle.more_body:
                    self.transport.close()  # its trailers are too large: it cannot end
                else:
                    # The next (pipelined) request is too large: answer this one, close.
                    cycle.keep_alive = False
                return
            if self._reading_headers:
                self.logger.warning("Request headers over %d bytes refused.", self.max_header_bytes)
                self.transport.write(HEADERS_TOO_LARGE)
            self.transport.close()

        # Parser callbacks
        def on_message_begin(self) -> None:
            self._reading_headers = True
            self._header_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + _HEADER_LINE)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._count(len(self.parser.get_method()) + _REQUEST_LINE_AND_BLANK_LINE)
            self._reading_headers = False
            self._header_bytes = 0  # trailers, if any, count afresh
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            self._reported += len(body)
            super().on_body(body)


def protocol_with(
    header_timeout: float, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http``: httptools-based, h11 without httptools
    (then h11 enforces the header size, through ``h11_max_incomplete_event_size``)."""
    if HTTPTOOLS:
        return type(
            "HeaderLimitsHttpToolsProtocol",
            (HeaderLimitsHttpToolsProtocol,),
            {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes},
        )
    return type(  # pragma: no cover
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": header_timeout}
    )
