"""Webhook endpoints over the unit of work's connection; their deliveries are outbox rows.

Signing secrets are sealed with the encryption keys (AES-GCM, bound to the endpoint id
and which secret it is), so a copy of the database alone cannot sign webhooks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.tables import delivery_attempts, outbox, webhook_endpoints
from secinfo.domain.contacts import Channel
from secinfo.domain.model import MessageStatus
from secinfo.domain.webhooks import (
    DeliveryAttempt,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

REDELIVERABLE = (MessageStatus.DEAD.value, MessageStatus.FAILED.value)


class SqlWebhookEndpoints:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self.connection = connection
        self.box = box

    def _values(self, endpoint: WebhookEndpoint) -> dict[str, Any]:
        previous = endpoint.previous_secret
        return {
            "id": endpoint.id,
            "url": endpoint.url,
            "description": endpoint.description,
            "events": json.dumps(endpoint.events),
            "status": endpoint.status.value,
            "disabled_reason": endpoint.disabled_reason,
            "disabled_at": endpoint.disabled_at,
            "secret": self.box.seal(endpoint.secret, f"{endpoint.id}:secret"),
            "previous_secret": (
                self.box.seal(previous, f"{endpoint.id}:previous") if previous else None
            ),
            "previous_secret_expires_at": endpoint.previous_secret_expires_at,
            "created_at": endpoint.created_at,
        }

    def _load(self, row: sa.Row[Any]) -> WebhookEndpoint:
        values = dict(row._mapping)
        values["events"] = json.loads(values["events"])
        values["status"] = EndpointStatus(values["status"])
        values["secret"] = self.box.open(values["secret"], f"{values['id']}:secret")
        if values["previous_secret"]:
            values["previous_secret"] = self.box.open(
                values["previous_secret"], f"{values['id']}:previous"
            )
        return WebhookEndpoint(**values)

    async def add(self, endpoint: WebhookEndpoint) -> None:
        await self.connection.execute(webhook_endpoints.insert().values(self._values(endpoint)))

    async def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        row = (
            await self.connection.execute(
                webhook_endpoints.select().where(webhook_endpoints.c.id == endpoint_id)
            )
        ).first()
        return self._load(row) if row else None

    async def list_all(self) -> list[WebhookEndpoint]:
        rows = await self.connection.execute(
            webhook_endpoints.select().order_by(webhook_endpoints.c.created_at)
        )
        return [self._load(row) for row in rows]

    async def list_enabled(self) -> list[WebhookEndpoint]:
        rows = await self.connection.execute(
            webhook_endpoints.select()
            .where(webhook_endpoints.c.status == EndpointStatus.ENABLED.value)
            .order_by(webhook_endpoints.c.created_at)
        )
        return [self._load(row) for row in rows]

    async def update(self, endpoint: WebhookEndpoint) -> None:
        await self.connection.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(self._values(endpoint))
        )

    async def delete(self, endpoint_id: str) -> None:
        await self.connection.execute(
            webhook_endpoints.delete().where(webhook_endpoints.c.id == endpoint_id)
        )

    async def deliveries(
        self, endpoint_id: str, limit: int, status: str | None = None
    ) -> list[WebhookDelivery]:
        query = (
            sa.select(
                outbox.c.id,
                outbox.c.template,
                outbox.c.status,
                outbox.c.attempts,
                outbox.c.created_at,
                outbox.c.next_attempt_at,
                outbox.c.sent_at,
                outbox.c.last_error,
            )
            .where(outbox.c.channel == Channel.WEBHOOK.value, outbox.c.destination == endpoint_id)
            .order_by(outbox.c.created_at.desc(), outbox.c.id)
            .limit(limit)
        )
        if status:
            query = query.where(outbox.c.status == status)
        rows = (await self.connection.execute(query)).all()
        attempts = await self._attempts([row.id for row in rows])
        return [
            WebhookDelivery(
                id=row.id,
                endpoint_id=endpoint_id,
                event_type=row.template,
                status=row.status,
                attempts=row.attempts,
                created_at=row.created_at,
                next_attempt_at=(
                    row.next_attempt_at if row.status in ("queued", "failed") else None
                ),
                sent_at=row.sent_at,
                last_error=row.last_error,
                attempt_log=attempts.get(row.id, []),
            )
            for row in rows
        ]

    async def _attempts(self, message_ids: list[str]) -> dict[str, list[DeliveryAttempt]]:
        if not message_ids:
            return {}
        rows = await self.connection.execute(
            sa.select(delivery_attempts)
            .where(delivery_attempts.c.message_id.in_(message_ids))
            .order_by(delivery_attempts.c.id)
        )
        found: dict[str, list[DeliveryAttempt]] = {}
        for row in rows:
            found.setdefault(row.message_id, []).append(
                DeliveryAttempt(
                    attempt=row.attempt,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    outcome=row.outcome,
                    response=row.provider_message_id,
                    error=row.error,
                )
            )
        return found

    async def requeue(self, endpoint_id: str, delivery_id: str, now: datetime) -> str | None:
        where = (
            outbox.c.id == delivery_id,
            outbox.c.channel == Channel.WEBHOOK.value,
            outbox.c.destination == endpoint_id,
        )
        status = await self.connection.scalar(sa.select(outbox.c.status).where(*where))
        if status is None or status not in REDELIVERABLE:
            return status
        await self.connection.execute(
            outbox.update()
            .where(*where, outbox.c.status.in_(REDELIVERABLE))
            .values(
                status=MessageStatus.QUEUED.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                worker_id=None,
            )
        )
        return str(status)
