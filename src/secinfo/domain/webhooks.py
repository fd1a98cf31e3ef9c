"""Webhooks (Standard Webhooks): endpoints, the events they subscribe to, the payload
an event becomes, and how a delivery is signed.

An endpoint subscribes to activity event types (the ``subject:action`` tags of
:mod:`secinfo.domain.events`) by exact tag, by prefix (``account:security_info:*``) or
to all of them (``*``). Each event becomes one outbox message per matching endpoint, in
the transaction that records the event; the outbox id is the ``webhook-id``, the same on
every retry, so a receiver de-duplicates on it.

Signing follows https://www.standardwebhooks.com: the secret is ``whsec_`` and base64 of
random bytes; the signature is ``v1,`` and base64 of HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}``. While a rotated secret overlaps the new one
both sign, and the header carries both signatures separated by a space.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from secinfo.domain.errors import Conflict, InvalidInput, NotFound
from secinfo.domain.events import EventTag

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret
SECRET_BYTES = 32
TEST_EVENT = "webhook.test"
# Events about the service rather than an account: not activity, but subscribable too.
DELIVERY_DEAD_LETTERED = "delivery:dead_lettered"
SYSTEM_EVENT_TYPES = (DELIVERY_DEAD_LETTERED,)
MAX_URL_LENGTH = 2000
MAX_PATTERNS = 50
MAX_DESCRIPTION_LENGTH = 200


@dataclass(frozen=True)
class WebhookPolicy:
    """The numbers of webhooks, written once; settings override them."""

    # How long the secret a rotation replaces keeps signing next to the new one.
    rotation_overlap: timedelta = timedelta(hours=24)
    max_rotation_overlap: timedelta = timedelta(days=7)
    # One delivery attempt's HTTP timeout (connect, send, wait for the answer).
    timeout_seconds: float = 10.0
    # Plain http endpoints: allowed in development; production requires https unless
    # the operator allows it (a receiver on the same private network).
    allow_http: bool = True


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    default_message = "There is no webhook endpoint with that id."


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    default_message = "This endpoint has no delivery with that id."


class InvalidWebhookUrl(InvalidInput):
    code = "invalid_webhook_url"


class InvalidEventPattern(InvalidInput):
    code = "invalid_event_pattern"


class DeliveryNotRedeliverable(Conflict):
    code = "delivery_not_redeliverable"
    default_message = "Only a dead or failed delivery can be redelivered."


@dataclass
class WebhookEndpoint:
    id: str
    url: str
    events: list[str]
    created_at: datetime
    secret: str = field(repr=False)
    description: str | None = None
    status: EndpointStatus = EndpointStatus.ENABLED
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    # The secret a rotation replaced, signing too until ``previous_secret_expires_at``.
    previous_secret: str | None = field(default=None, repr=False)
    previous_secret_expires_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        return self.status is EndpointStatus.ENABLED

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery made now: the current one, and the previous
        one while its overlap lasts."""
        keys = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and now < expires:
            keys.append(self.previous_secret)
        return keys

    def subscribes_to(self, event_type: str) -> bool:
        return any(pattern_matches(pattern, event_type) for pattern in self.events)

    def disable(self, now: datetime, reason: str) -> None:
        self.status = EndpointStatus.DISABLED
        self.disabled_reason = reason
        self.disabled_at = now

    def enable(self) -> None:
        self.status = EndpointStatus.ENABLED
        self.disabled_reason = None
        self.disabled_at = None

    def rotate(self, new_secret: str, now: datetime, overlap: timedelta) -> None:
        """The new secret signs from now on; the current one keeps signing for
        ``overlap`` (zero: it stops at once). An older previous secret is dropped."""
        self.previous_secret = self.secret if overlap > timedelta(0) else None
        self.previous_secret_expires_at = now + overlap if overlap > timedelta(0) else None
        self.secret = new_secret


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    finished_at: datetime
    outcome: str  # sent, failed, dead, expired
    started_at: datetime | None = None
    response: str | None = None  # "HTTP 204" on success
    error: str | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    """One event on its way to one endpoint (an outbox message), with its attempts."""

    id: str  # the webhook-id
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    attempt_log: list[DeliveryAttempt] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryTarget:
    """Where a delivery goes now, and the secrets that sign it."""

    url: str
    enabled: bool
    secrets: list[str] = field(repr=False)


# -- event types and patterns -------------------------------------------------------------
def event_types() -> list[str]:
    """Every event type an endpoint can subscribe to."""
    return sorted([*(tag.value for tag in EventTag), *SYSTEM_EVENT_TYPES])


def pattern_matches(pattern: str, event_type: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(":*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def clean_patterns(patterns: list[str]) -> list[str]:
    """Patterns checked against the known event types: an exact tag, a prefix ending in
    ``:*`` that matches at least one tag, or ``*``. A typo is refused, not silently
    subscribed to nothing. Patterns may also come comma-separated."""
    cleaned: list[str] = []
    for raw in patterns:
        for part in raw.replace(",", " ").split():
            if part not in cleaned:
                cleaned.append(part)
    if not cleaned:
        raise InvalidEventPattern(
            "Name at least one event to subscribe to: an event type like "
            "'account:security_info:added', a prefix like 'account:security_info:*', or '*'."
        )
    if len(cleaned) > MAX_PATTERNS:
        raise InvalidEventPattern(f"An endpoint may have at most {MAX_PATTERNS} event patterns.")
    known = event_types()
    for pattern in cleaned:
        if not any(pattern_matches(pattern, event_type) for event_type in known):
            raise InvalidEventPattern(
                f"'{pattern}' matches no event type. Use an exact type (see "
                "GET /v1/admin/webhooks/event-types), a prefix ending in ':*' such as "
                "'account:security_info:*', or '*' for every event."
            )
    return cleaned


# -- endpoint URLs --------------------------------------------------------------------------
def clean_url(raw: str, *, allow_http: bool = True) -> str:
    """An absolute http(s) URL with a host and no credentials or fragment."""
    url = raw.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidWebhookUrl(
            f"Give the endpoint's URL (at most {MAX_URL_LENGTH} characters), like "
            "https://example.com/webhooks/secinfo."
        )
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise InvalidWebhookUrl("A webhook URL cannot contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidWebhookUrl(
            "That is not a URL secinfo can call: check the host and port."
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidWebhookUrl("A webhook URL starts with https:// (or http://).")
    if parts.scheme.lower() == "http" and not allow_http:
        raise InvalidWebhookUrl(
            "Webhook URLs must use https:// (events and signatures would cross the network "
            "in the clear). Set SECINFO_WEBHOOK_ALLOW_HTTP=true for a receiver on a "
            "private network."
        )
    if not parts.hostname:
        raise InvalidWebhookUrl("A webhook URL needs a host, like https://example.com/hooks.")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl(
            "Leave credentials out of the webhook URL: receivers check the webhook "
            "signature instead (see 'Signing' in the documentation)."
        )
    if parts.fragment or url.endswith("#"):
        raise InvalidWebhookUrl("A webhook URL cannot have a #fragment.")
    if port == 0:
        raise InvalidWebhookUrl("A webhook URL cannot use port 0.")
    _check_host(parts.hostname)
    return url


def _check_host(host: str) -> None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or ".." in host:
            raise InvalidWebhookUrl(
                "The URL's host is not a valid name; use its ASCII (punycode) form."
            ) from None
        return
    if address.is_unspecified or address.is_multicast:
        raise InvalidWebhookUrl("The URL's host address cannot receive webhooks.")


def clean_description(description: str | None) -> str | None:
    if description is None:
        return None
    text = " ".join(description.split())
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(f"A description may have at most {MAX_DESCRIPTION_LENGTH} characters.")
    return text or None


# -- secrets and signatures -------------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secrets_: list[str], message_id: str, timestamp: int, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per signing secret."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_
        ),
    }


# -- payloads -----------------------------------------------------------------------------------
# The event details a payload may carry: ids, kinds, masked values and labels, counts,
# reasons. Anything else an event records (a future detail) stays out until it is added
# here, so a new detail can never leak a value by default.
PAYLOAD_DETAILS = frozenset(
    {
        "item_id",
        "kind",
        "label",
        "masked",
        "change_id",
        "ends_at",
        "channel",
        "purpose",
        "reason",
        "sessions",
        "not_me",
        "api_key_name",
        # Who acted when an operator did (admin API, operator pages, CLI).
        "by",
        "operator_kind",
        "operator_id",
        "operator_name",
        "message_id",
        "template",
        "attempts",
        "method",
    }
)
_EMAIL_LIKE = re.compile(r"[^\s@*]+@[^\s@]+\.[^\s@]+")
_PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{6,}\d")


def _safe_value(value: Any) -> bool:
    """A string that looks like a full email address or phone number is never sent, even
    under an allowed key (a masked one has stars in it)."""
    if isinstance(value, str):
        return not (_EMAIL_LIKE.search(value) or _PHONE_LIKE.fullmatch(value.strip()))
    return isinstance(value, int | float | bool) or value is None


def event_payload(
    event_type: str,
    timestamp: datetime,
    *,
    event_id: str,
    account_id: str | None,
    outcome: str | None = None,
    country: str | None = None,
    details: dict[str, Any] | None = None,
) -> str:
    """The JSON body: ``{"type", "timestamp", "data"}``; ``data`` never holds a code, a
    secret, a token, a full contact value, an IP address or a user agent."""
    data: dict[str, Any] = {"id": event_id}
    if account_id is not None:
        data["account_id"] = account_id
    if outcome is not None:
        data["outcome"] = outcome
    if country is not None:
        data["country"] = country
    for key, value in sorted((details or {}).items()):
        if key in PAYLOAD_DETAILS and _safe_value(value):
            data[key] = value
    body = {"type": event_type, "timestamp": _iso(timestamp), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def dead_letter_payload(
    timestamp: datetime,
    *,
    event_id: str,
    message_id: str,
    channel: str,
    template: str,
    masked_destination: str,
    attempts: int,
) -> str:
    """A message (email or SMS) that will not be delivered: which one, to whom masked."""
    return event_payload(
        DELIVERY_DEAD_LETTERED,
        timestamp,
        event_id=event_id,
        account_id=None,
        details={
            "message_id": message_id,
            "channel": channel,
            "template": template,
            "masked": masked_destination,
            "attempts": attempts,
        },
    )


def ping_payload(endpoint_id: str, timestamp: datetime, event_id: str) -> str:
    body = {
        "type": TEST_EVENT,
        "timestamp": _iso(timestamp),
        "data": {"id": event_id, "endpoint_id": endpoint_id},
    }
    return json.dumps(body, separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
