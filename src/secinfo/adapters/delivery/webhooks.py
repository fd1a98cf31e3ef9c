"""Webhook delivery over HTTP, signed per Standard Webhooks.

``POST`` the stored JSON body to the endpoint with ``webhook-id`` (the outbox id, the
same on every retry), ``webhook-timestamp`` (this attempt, Unix seconds) and
``webhook-signature``. 2xx is delivered; 410 Gone disables the endpoint and ends the
delivery; anything else (3xx included: redirects are not followed) and timeouts or
connection errors are retried with the workers' backoff. Error texts carry the HTTP
status only, never the response body; secrets are never logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from secinfo import __version__
from secinfo.domain.model import OutgoingMessage
from secinfo.domain.webhooks import DeliveryTarget, signed_headers
from secinfo.ports import Clock, DeliveryError


@dataclass(eq=False)
class StandardWebhookSender:
    targets: Callable[[str], Awaitable[DeliveryTarget | None]]
    on_gone: Callable[[str], Awaitable[None]]
    clock: Clock
    timeout: float = 10.0
    max_connections: int = 20
    _client: httpx.AsyncClient | None = field(default=None, repr=False)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=self.max_connections),
                headers={"user-agent": f"secinfo-webhooks/{__version__}"},
                trust_env=False,
            )
        return self._client

    async def send(self, message: OutgoingMessage) -> str:
        target = await self.targets(message.destination)
        if target is None:
            raise DeliveryError("the webhook endpoint was deleted", permanent=True)
        if not target.enabled:
            raise DeliveryError("the webhook endpoint is disabled", permanent=True)
        timestamp = int(self.clock.now().timestamp())
        headers = signed_headers(target.secrets, message.id, timestamp, message.body)
        headers["content-type"] = "application/json"
        try:
            response = await self.client().post(
                target.url, content=message.body.encode(), headers=headers
            )
        except httpx.HTTPError as error:
            kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
            raise DeliveryError(f"request to the endpoint {kind}: {type(error).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status == 410:
            await self.on_gone(message.destination)
            raise DeliveryError("HTTP 410: the endpoint is gone and was disabled", permanent=True)
        raise DeliveryError(f"HTTP {status}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
