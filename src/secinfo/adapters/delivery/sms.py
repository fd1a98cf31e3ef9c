"""SMS over HTTP: a Twilio-style Messages API, and a generic JSON webhook.

Both share one rule for answers: 2xx is sent; 429 and 5xx are retried, and so are
timeouts and connection errors; any other 4xx is permanent (the request itself is
wrong: bad number, bad credentials are the operator's to fix, but retrying the same
request will not help). Error texts carry the HTTP status and the provider's error
code only — never the response text, which may echo the message body.

Every request carries the outbox id, the same on every retry and on a repeat after a
worker died, so a gateway can drop the rare duplicate: an ``Idempotency-Key`` header
(both senders; the Twilio-style one also sends it as ``I-Twilio-Idempotency-Token``),
and the webhook body's ``{id}`` placeholder (in the default body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from secinfo.domain.model import OutgoingMessage
from secinfo.ports import DeliveryError

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"
IDEMPOTENCY_KEY = "Idempotency-Key"
TWILIO_IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


def gsm7_length(text: str) -> int | None:
    """Septets the text needs in GSM-7, or None if it needs UCS-2."""
    length = 0
    for char in text:
        if char in GSM7_BASIC:
            length += 1
        elif char in GSM7_EXTENDED:
            length += 2
        else:
            return None
    return length


def sms_segments(text: str) -> int:
    """How many SMS segments the text takes (GSM-7: 160/153, else UCS-2: 70/67)."""
    septets = gsm7_length(text)
    if septets is not None:
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def _classify(response: httpx.Response, provider_code: object = None) -> DeliveryError:
    status = response.status_code
    detail = f" (provider error {provider_code})" if provider_code not in (None, "") else ""
    retryable = status == 429 or status >= 500 or status < 400
    return DeliveryError(f"HTTP {status}{detail}", permanent=not retryable)


def _transport_error(error: httpx.HTTPError, where: str) -> DeliveryError:
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    return DeliveryError(f"request to {where} {kind}: {type(error).__name__}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass(eq=False)
class TwilioSender:
    """``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic auth."""

    account_sid: str
    auth_token: str
    sender: str
    base_url: str = "https://api.twilio.com"
    timeout: float = 10.0
    max_connections: int = 20
    _client: httpx.AsyncClient | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                auth=httpx.BasicAuth(self.account_sid, self.auth_token),
                limits=httpx.Limits(max_connections=self.max_connections),
            )
        return self._client

    async def send(self, message: OutgoingMessage) -> str:
        form = {"To": message.destination, "Body": message.body.strip()}
        # A Messaging Service SID (MG…) picks the number itself; otherwise a From number.
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        headers = {IDEMPOTENCY_KEY: message.id, TWILIO_IDEMPOTENCY_HEADER: message.id}
        try:
            response = await self.client().post(self.url, data=form, headers=headers)
        except httpx.HTTPError as error:
            raise _transport_error(error, "the SMS provider") from None
        payload = _json(response)
        if not response.is_success:
            code = payload.get("code") if isinstance(payload, dict) else None
            raise _classify(response, code)
        sid = payload.get("sid") if isinstance(payload, dict) else None
        if not sid:
            raise DeliveryError(f"HTTP {response.status_code} without a message sid")
        return str(sid)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


@dataclass(eq=False)
class WebhookSender:
    """Any HTTP endpoint: a JSON body made from a template with ``{to}``, ``{body}``,
    ``{from}`` and ``{id}`` (the outbox id, stable across retries: an idempotency key)."""

    url: str
    body_template: str = '{"to": "{to}", "body": "{body}", "id": "{id}"}'
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    sender: str = ""
    id_field: str = "id"
    timeout: float = 10.0
    max_connections: int = 20
    _client: httpx.AsyncClient | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._template = json.loads(self.body_template)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=httpx.Limits(max_connections=self.max_connections)
            )
        return self._client

    def payload(self, message: OutgoingMessage) -> Any:
        values = {
            "{to}": message.destination,
            "{body}": message.body.strip(),
            "{from}": self.sender,
            "{id}": message.id,
        }

        def fill(node: Any) -> Any:
            if isinstance(node, str):
                for placeholder, value in values.items():
                    node = node.replace(placeholder, value)
                return node
            if isinstance(node, dict):
                return {fill(key): fill(value) for key, value in node.items()}
            if isinstance(node, list):
                return [fill(item) for item in node]
            return node

        return fill(self._template)

    async def send(self, message: OutgoingMessage) -> str:
        try:
            response = await self.client().request(
                self.method,
                self.url,
                json=self.payload(message),
                headers={**self.headers, IDEMPOTENCY_KEY: message.id},
            )
        except httpx.HTTPError as error:
            raise _transport_error(error, "the SMS webhook") from None
        if not response.is_success:
            raise _classify(response)
        payload = _json(response)
        provider_id = payload.get(self.id_field) if isinstance(payload, dict) else None
        return str(provider_id) if provider_id else f"webhook-{message.id}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
