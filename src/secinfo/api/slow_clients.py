"""Slow clients: a connection that does not finish its request headers in time is closed.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but waits forever for
the headers of a request that has started: 3,000 such connections held 3,019 file
descriptors for a minute. This h11 protocol gives every request its headers deadline,
from the connection's first byte or from the end of the previous response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutH11Protocol(H11Protocol):
    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        timer: asyncio.TimerHandle | None = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        waiting_after: Any = self.cycle
        self._header_timer = self.loop.call_later(
            self.header_timeout, self._headers_overdue, waiting_after
        )

    def _headers_overdue(self, waiting_after: Any) -> None:
        # No new request has started since the timer was armed: its headers are late.
        if self.cycle is waiting_after and not self.transport.is_closing():
            self.transport.close()


def protocol_with(header_timeout: float) -> type[H11Protocol]:
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": header_timeout}
    )
