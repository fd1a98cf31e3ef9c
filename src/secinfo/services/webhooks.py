"""Webhook endpoints: register, change, rotate secrets, test; fan events out to them; list
and redeliver their deliveries. The workers deliver them from the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from secinfo.domain.contacts import Channel
from secinfo.domain.errors import InvalidInput
from secinfo.domain.model import ActivityEvent, OutgoingMessage
from secinfo.domain.webhooks import (
    TEST_EVENT,
    DeliveryNotRedeliverable,
    DeliveryTarget,
    WebhookDelivery,
    WebhookDeliveryNotFound,
    WebhookEndpoint,
    WebhookEndpointNotFound,
    clean_description,
    clean_patterns,
    clean_url,
    event_payload,
    new_secret,
    ping_payload,
)
from secinfo.ports import UnitOfWork
from secinfo.services.deps import Deps, new_id

log = structlog.get_logger("secinfo.webhooks")
MAX_DELIVERIES_PAGE = 200


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


@dataclass(frozen=True)
class RotatedSecret:
    endpoint: WebhookEndpoint
    secret: str  # shown once


async def create(
    deps: Deps, url: str, events: list[str], description: str | None = None
) -> CreatedEndpoint:
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        url=clean_url(url, allow_http=deps.config.webhooks.allow_http),
        events=clean_patterns(events),
        description=clean_description(description),
        created_at=deps.clock.now(),
        secret=new_secret(),
    )
    async with deps.uow() as uow:
        await uow.webhooks.add(endpoint)
        await uow.commit()
    log.info("webhook.endpoint_created", endpoint_id=endpoint.id, events=endpoint.events)
    return CreatedEndpoint(endpoint, endpoint.secret)


async def list_endpoints(deps: Deps) -> list[WebhookEndpoint]:
    async with deps.uow() as uow:
        return await uow.webhooks.list_all()


async def get(deps: Deps, endpoint_id: str) -> WebhookEndpoint:
    async with deps.uow() as uow:
        return await _endpoint(uow, endpoint_id)


async def _endpoint(uow: UnitOfWork, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await uow.webhooks.get(endpoint_id)
    if endpoint is None:
        raise WebhookEndpointNotFound()
    return endpoint


async def update(
    deps: Deps,
    endpoint_id: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given; ``description=""`` clears it. Enabling again clears the
    reason it was disabled (deliveries that died meanwhile can be redelivered)."""
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        if url is not None:
            endpoint.url = clean_url(url, allow_http=deps.config.webhooks.allow_http)
        if events is not None:
            endpoint.events = clean_patterns(events)
        if description is not None:
            endpoint.description = clean_description(description)
        if enabled is True and not endpoint.enabled:
            endpoint.enable()
        elif enabled is False and endpoint.enabled:
            endpoint.disable(deps.clock.now(), "disabled by an operator")
        await uow.webhooks.update(endpoint)
        await uow.commit()
    return endpoint


async def disable(deps: Deps, endpoint_id: str) -> WebhookEndpoint:
    return await update(deps, endpoint_id, enabled=False)


async def delete(deps: Deps, endpoint_id: str) -> None:
    """Remove the endpoint; its queued deliveries end as dead (nowhere to send them)."""
    async with deps.uow() as uow:
        await _endpoint(uow, endpoint_id)
        await uow.webhooks.delete(endpoint_id)
        await uow.commit()


async def rotate_secret(
    deps: Deps, endpoint_id: str, overlap: timedelta | None = None
) -> RotatedSecret:
    """A new secret signs from now on; the old one also signs for ``overlap`` (default
    from the policy), so receivers can switch without missing a delivery."""
    policy = deps.config.webhooks
    overlap = policy.rotation_overlap if overlap is None else overlap
    if overlap < timedelta(0) or overlap > policy.max_rotation_overlap:
        hours = int(policy.max_rotation_overlap.total_seconds() // 3600)
        raise InvalidInput(f"The overlap is 0 to {hours} hours.")
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        secret = new_secret()
        endpoint.rotate(secret, deps.clock.now(), overlap)
        await uow.webhooks.update(endpoint)
        await uow.commit()
    log.info(
        "webhook.secret_rotated",
        endpoint_id=endpoint_id,
        overlap_seconds=int(overlap.total_seconds()),
    )
    return RotatedSecret(endpoint, secret)


async def send_test(deps: Deps, endpoint_id: str) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to this endpoint alone (even one that is disabled
    would only die: the endpoint must be enabled)."""
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        if not endpoint.enabled:
            raise InvalidInput("Enable the endpoint first: a disabled endpoint gets nothing.")
        now = deps.clock.now()
        message = _message(endpoint, TEST_EVENT, ping_payload(endpoint.id, now, new_id("evt")))
        message.created_at = message.next_attempt_at = now
        await uow.outbox.add(message)
        await uow.commit()
    deps.outbox_wakeup()
    return WebhookDelivery(
        id=message.id,
        endpoint_id=endpoint.id,
        event_type=TEST_EVENT,
        status=message.status.value,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
        sent_at=None,
        last_error=None,
    )


async def deliveries(
    deps: Deps, endpoint_id: str, limit: int = 50, status: str | None = None
) -> list[WebhookDelivery]:
    async with deps.uow() as uow:
        await _endpoint(uow, endpoint_id)
        return await uow.webhooks.deliveries(
            endpoint_id, min(max(limit, 1), MAX_DELIVERIES_PAGE), status
        )


async def redeliver(deps: Deps, endpoint_id: str, delivery_id: str) -> None:
    """Send a dead (or failed) delivery again, now, with the same webhook-id."""
    async with deps.uow() as uow:
        endpoint = await _endpoint(uow, endpoint_id)
        before = await uow.webhooks.requeue(endpoint_id, delivery_id, deps.clock.now())
        if before is None:
            raise WebhookDeliveryNotFound()
        if before not in ("dead", "failed"):
            raise DeliveryNotRedeliverable(
                f"This delivery is {before}; only a dead or failed one can be redelivered."
            )
        if not endpoint.enabled:
            raise InvalidInput("Enable the endpoint first: a disabled endpoint gets nothing.")
        await uow.commit()
    deps.outbox_wakeup()


# -- fan-out, in the transaction that records the event ------------------------------------
async def fan_out(deps: Deps, uow: UnitOfWork, event: ActivityEvent) -> int:
    """Queue the event for every enabled endpoint subscribed to its type, in ``uow``."""
    endpoints = [
        endpoint
        for endpoint in await uow.webhooks.list_enabled()
        if endpoint.subscribes_to(event.type)
    ]
    if not endpoints:
        return 0
    body = event_payload(
        event.type,
        event.created_at,
        event_id=event.id,
        account_id=event.account_id,
        outcome=event.outcome,
        country=event.country,
        details=event.details,
    )
    for endpoint in endpoints:
        message = _message(endpoint, event.type, body)
        message.created_at = message.next_attempt_at = event.created_at
        await uow.outbox.add(message)
    return len(endpoints)


def _message(endpoint: WebhookEndpoint, event_type: str, body: str) -> OutgoingMessage:
    return OutgoingMessage(
        id=new_id("msg"),
        channel=Channel.WEBHOOK,
        destination=endpoint.id,
        template=event_type,
        locale="en",
        subject="",
        body=body,
        created_at=endpoint.created_at,  # replaced by the caller
    )


# -- what the webhook sender asks ----------------------------------------------------------
async def target(deps: Deps, endpoint_id: str) -> DeliveryTarget | None:
    """Where a delivery goes now and the secrets that sign it; None: endpoint deleted."""
    async with deps.uow() as uow:
        endpoint = await uow.webhooks.get(endpoint_id)
    if endpoint is None:
        return None
    return DeliveryTarget(
        endpoint.url, endpoint.enabled, endpoint.signing_secrets(deps.clock.now())
    )


async def endpoint_gone(deps: Deps, endpoint_id: str) -> None:
    """The receiver answered 410 Gone: it wants no more; the endpoint is disabled."""
    async with deps.uow() as uow:
        endpoint = await uow.webhooks.get(endpoint_id)
        if endpoint is None or not endpoint.enabled:
            return
        endpoint.disable(deps.clock.now(), "the endpoint answered 410 Gone")
        await uow.webhooks.update(endpoint)
        await uow.commit()
    log.warning("webhook.endpoint_disabled", endpoint_id=endpoint_id, reason="410 Gone")
