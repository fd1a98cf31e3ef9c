"""The admin API's webhook endpoints: ``/v1/admin/webhooks`` (admin-scoped API keys)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from secinfo.api import schemas
from secinfo.api.dependencies import AdminKeyDep, DepsDep
from secinfo.domain.webhooks import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    event_types,
)
from secinfo.services import webhooks


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "No valid API key (invalid_api_key).",
        403: "A key without the admin scope (forbidden_scope).",
        404: "No such endpoint or delivery.",
        409: "The delivery cannot be redelivered (delivery_not_redeliverable).",
        422: "Invalid input: the error names the field and what to do.",
    }
    # The body is the one error schema, added to every error status by api/openapi.py.
    return {status: {"description": described[status]} for status in (401, 403, *statuses)}


router = APIRouter(prefix="/v1/admin/webhooks", tags=["admin: webhooks"], responses=_errors())


class EndpointCreate(schemas.Body):
    url: str = Field(..., max_length=2000, description="Where events are POSTed (http/https).")
    events: list[str] = Field(
        ...,
        max_length=50,
        description="Event types (account:security_info:added), prefixes "
        "(account:security_info:*) or '*'.",
    )
    description: str | None = Field(None, max_length=200)


class EndpointUpdate(schemas.Body):
    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = Field(None, max_length=50)
    description: str | None = Field(None, max_length=200, description="'' clears it.")
    enabled: bool | None = Field(
        None, description="false stops deliveries; true sends again (clears a 410 disable)."
    )


class RotateRequest(schemas.Body):
    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=7 * 24 * 3600,
        description="How long the previous secret keeps signing too (default 24 hours; "
        "0 stops it at once).",
    )


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    events: list[str]
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        None, description="While set and in the future, the previous secret signs too."
    )


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(..., description="The whsec_ signing secret, shown only here.")


class SecretOut(BaseModel):
    endpoint: EndpointOut
    secret: str = Field(..., description="The new whsec_ signing secret, shown only here.")


class EndpointListOut(BaseModel):
    endpoints: list[EndpointOut]


class EventTypesOut(BaseModel):
    event_types: list[str]


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime | None
    finished_at: datetime
    outcome: str
    response: str | None = Field(None, description="'HTTP 204' when delivered.")
    error: str | None


class DeliveryOut(BaseModel):
    id: str = Field(..., description="The webhook-id header: the same on every attempt.")
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    attempt_log: list[AttemptOut]


class DeliveryListOut(BaseModel):
    deliveries: list[DeliveryOut]


def endpoint_out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        events=endpoint.events,
        status=endpoint.status.value,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        created_at=endpoint.created_at,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


def _attempt_out(attempt: DeliveryAttempt) -> AttemptOut:
    return AttemptOut(
        attempt=attempt.attempt,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
        outcome=attempt.outcome,
        response=attempt.response,
        error=attempt.error,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        sent_at=delivery.sent_at,
        last_error=delivery.last_error,
        attempt_log=[_attempt_out(attempt) for attempt in delivery.attempt_log],
    )


@router.get("/event-types")
async def list_event_types(_: AdminKeyDep) -> EventTypesOut:
    """Every event type an endpoint can subscribe to."""
    return EventTypesOut(event_types=event_types())


@router.post("", status_code=201, responses=_errors(422))
async def create_endpoint(
    body: EndpointCreate, _: AdminKeyDep, deps: DepsDep
) -> EndpointCreatedOut:
    """Register an endpoint; the response carries its signing secret, shown once."""
    created = await webhooks.create(deps, body.url, body.events, body.description)
    return EndpointCreatedOut(**endpoint_out(created.endpoint).model_dump(), secret=created.secret)


@router.get("")
async def list_endpoints(_: AdminKeyDep, deps: DepsDep) -> EndpointListOut:
    return EndpointListOut(
        endpoints=[endpoint_out(endpoint) for endpoint in await webhooks.list_endpoints(deps)]
    )


@router.get("/{endpoint_id}", responses=_errors(404))
async def get_endpoint(endpoint_id: str, _: AdminKeyDep, deps: DepsDep) -> EndpointOut:
    return endpoint_out(await webhooks.get(deps, endpoint_id))


@router.patch("/{endpoint_id}", responses=_errors(404, 422))
async def update_endpoint(
    endpoint_id: str, body: EndpointUpdate, _: AdminKeyDep, deps: DepsDep
) -> EndpointOut:
    """Change the URL, events, description, or enable/disable it."""
    endpoint = await webhooks.update(
        deps,
        endpoint_id,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )
    return endpoint_out(endpoint)


@router.delete("/{endpoint_id}", status_code=204, responses=_errors(404))
async def delete_endpoint(endpoint_id: str, _: AdminKeyDep, deps: DepsDep) -> Response:
    await webhooks.delete(deps, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", responses=_errors(404, 422))
async def rotate_secret(
    endpoint_id: str, _: AdminKeyDep, deps: DepsDep, body: RotateRequest | None = None
) -> SecretOut:
    """A new secret signs from now on; the previous one also signs during the overlap
    (the ``webhook-signature`` header then carries both signatures)."""
    seconds = body.overlap_seconds if body else None
    overlap = timedelta(seconds=seconds) if seconds is not None else None
    rotated = await webhooks.rotate_secret(deps, endpoint_id, overlap)
    return SecretOut(endpoint=endpoint_out(rotated.endpoint), secret=rotated.secret)


@router.post("/{endpoint_id}/test", status_code=202, responses=_errors(404, 422))
async def send_test(endpoint_id: str, _: AdminKeyDep, deps: DepsDep) -> DeliveryOut:
    """Queue a ``webhook.test`` event to this endpoint."""
    return delivery_out(await webhooks.send_test(deps, endpoint_id))


@router.get("/{endpoint_id}/deliveries", responses=_errors(404))
async def list_deliveries(
    endpoint_id: str,
    _: AdminKeyDep,
    deps: DepsDep,
    status: Literal["queued", "sending", "sent", "failed", "dead"] | None = None,
    limit: int = Query(50, ge=1, le=200),
) -> DeliveryListOut:
    """Newest first, each with every attempt."""
    found = await webhooks.deliveries(deps, endpoint_id, limit, status)
    return DeliveryListOut(deliveries=[delivery_out(delivery) for delivery in found])


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    responses=_errors(404, 409, 422),
)
async def redeliver(endpoint_id: str, delivery_id: str, _: AdminKeyDep, deps: DepsDep) -> Response:
    """Send a dead (or failed) delivery again, now, with the same webhook-id."""
    await webhooks.redeliver(deps, endpoint_id, delivery_id)
    return Response(status_code=202)
