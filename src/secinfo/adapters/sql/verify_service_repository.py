"""SQL storage of the Twilio-compatible front end's accounts, services and rate limits.

Attempts are the outbox's code messages; their destination is read from the verification
(sealed, not wiped after delivery). Destinations are sealed, so a filter on their prefix
(Country, DestinationPrefix) is applied after opening them, not in SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.contacts_at_rest import unseal
from secinfo.adapters.sql.repositories import DESTINATION
from secinfo.adapters.sql.tables import (
    outbox,
    twilio_accounts,
    twilio_buckets,
    twilio_rate_limits,
    twilio_services,
    verifications,
)
from secinfo.domain.verify_services import (
    Attempt,
    AttemptFilter,
    RateLimitBucket,
    ServiceRateLimit,
    VerifyAccount,
    VerifyService,
)


def _values(row: sa.Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


class SqlVerifyServices:
    def __init__(self, connection: AsyncConnection, box: SecretBox) -> None:
        self.connection = connection
        self.box = box

    async def _first(self, statement: sa.Select[Any]) -> dict[str, Any] | None:
        row = (await self.connection.execute(statement)).first()
        return _values(row) if row else None

    # -- accounts -----------------------------------------------------------------------
    async def add_account(self, account: VerifyAccount) -> None:
        await self.connection.execute(twilio_accounts.insert().values(vars(account)))

    async def account_by_hash(self, token_hash: str) -> VerifyAccount | None:
        found = await self._first(
            twilio_accounts.select().where(twilio_accounts.c.token_hash == token_hash)
        )
        return VerifyAccount(**found) if found else None

    async def get_account(self, sid: str) -> VerifyAccount | None:
        found = await self._first(twilio_accounts.select().where(twilio_accounts.c.sid == sid))
        return VerifyAccount(**found) if found else None

    async def list_accounts(self) -> list[VerifyAccount]:
        rows = await self.connection.execute(
            twilio_accounts.select().order_by(twilio_accounts.c.created_at)
        )
        return [VerifyAccount(**_values(row)) for row in rows]

    async def update_account(self, account: VerifyAccount) -> None:
        await self.connection.execute(
            twilio_accounts.update()
            .where(twilio_accounts.c.sid == account.sid)
            .values(vars(account))
        )

    # -- services -----------------------------------------------------------------------
    async def add_service(self, service: VerifyService) -> None:
        await self.connection.execute(twilio_services.insert().values(vars(service)))

    async def get_service(self, account_sid: str, sid: str) -> VerifyService | None:
        found = await self._first(
            twilio_services.select().where(
                twilio_services.c.sid == sid, twilio_services.c.account_sid == account_sid
            )
        )
        return VerifyService(**found) if found else None

    async def update_service(self, service: VerifyService) -> None:
        await self.connection.execute(
            twilio_services.update()
            .where(twilio_services.c.sid == service.sid)
            .values(vars(service))
        )

    async def delete_service(self, account_sid: str, sid: str) -> bool:
        result = await self.connection.execute(
            twilio_services.delete().where(
                twilio_services.c.sid == sid, twilio_services.c.account_sid == account_sid
            )
        )
        if not result.rowcount:
            return False
        await self.connection.execute(
            twilio_buckets.delete().where(twilio_buckets.c.service_sid == sid)
        )
        await self.connection.execute(
            twilio_rate_limits.delete().where(twilio_rate_limits.c.service_sid == sid)
        )
        return True

    async def list_services(self, account_sid: str, limit: int, offset: int) -> list[VerifyService]:
        rows = await self.connection.execute(
            twilio_services.select()
            .where(twilio_services.c.account_sid == account_sid)
            .order_by(twilio_services.c.created_at, twilio_services.c.sid)
            .limit(limit)
            .offset(offset)
        )
        return [VerifyService(**_values(row)) for row in rows]

    # -- rate limits and buckets ----------------------------------------------------------
    async def add_rate_limit(self, rate_limit: ServiceRateLimit) -> None:
        await self.connection.execute(twilio_rate_limits.insert().values(vars(rate_limit)))

    async def get_rate_limit(
        self, account_sid: str, service_sid: str, sid: str
    ) -> ServiceRateLimit | None:
        found = await self._first(
            twilio_rate_limits.select().where(
                twilio_rate_limits.c.sid == sid,
                twilio_rate_limits.c.service_sid == service_sid,
                twilio_rate_limits.c.account_sid == account_sid,
            )
        )
        return ServiceRateLimit(**found) if found else None

    async def rate_limits_named(
        self, service_sid: str, unique_names: list[str]
    ) -> list[ServiceRateLimit]:
        rows = await self.connection.execute(
            twilio_rate_limits.select().where(
                twilio_rate_limits.c.service_sid == service_sid,
                twilio_rate_limits.c.unique_name.in_(unique_names),
            )
        )
        return [ServiceRateLimit(**_values(row)) for row in rows]

    async def update_rate_limit(self, rate_limit: ServiceRateLimit) -> None:
        await self.connection.execute(
            twilio_rate_limits.update()
            .where(twilio_rate_limits.c.sid == rate_limit.sid)
            .values(vars(rate_limit))
        )

    async def delete_rate_limit(self, rate_limit: ServiceRateLimit) -> None:
        await self.connection.execute(
            twilio_buckets.delete().where(twilio_buckets.c.rate_limit_sid == rate_limit.sid)
        )
        await self.connection.execute(
            twilio_rate_limits.delete().where(twilio_rate_limits.c.sid == rate_limit.sid)
        )

    async def list_rate_limits(
        self, service_sid: str, limit: int, offset: int
    ) -> list[ServiceRateLimit]:
        rows = await self.connection.execute(
            twilio_rate_limits.select()
            .where(twilio_rate_limits.c.service_sid == service_sid)
            .order_by(twilio_rate_limits.c.created_at, twilio_rate_limits.c.sid)
            .limit(limit)
            .offset(offset)
        )
        return [ServiceRateLimit(**_values(row)) for row in rows]

    async def count_rate_limits(self, service_sid: str) -> int:
        count = await self.connection.scalar(
            sa.select(sa.func.count()).where(twilio_rate_limits.c.service_sid == service_sid)
        )
        return int(count or 0)

    async def add_bucket(self, bucket: RateLimitBucket) -> None:
        await self.connection.execute(twilio_buckets.insert().values(vars(bucket)))

    async def get_bucket(self, rate_limit_sid: str, sid: str) -> RateLimitBucket | None:
        found = await self._first(
            twilio_buckets.select().where(
                twilio_buckets.c.sid == sid, twilio_buckets.c.rate_limit_sid == rate_limit_sid
            )
        )
        return RateLimitBucket(**found) if found else None

    async def update_bucket(self, bucket: RateLimitBucket) -> None:
        await self.connection.execute(
            twilio_buckets.update().where(twilio_buckets.c.sid == bucket.sid).values(vars(bucket))
        )

    async def delete_bucket(self, bucket: RateLimitBucket) -> None:
        await self.connection.execute(
            twilio_buckets.delete().where(twilio_buckets.c.sid == bucket.sid)
        )

    async def list_buckets(
        self, rate_limit_sids: list[str], limit: int, offset: int
    ) -> list[RateLimitBucket]:
        rows = await self.connection.execute(
            twilio_buckets.select()
            .where(twilio_buckets.c.rate_limit_sid.in_(rate_limit_sids))
            .order_by(twilio_buckets.c.created_at, twilio_buckets.c.sid)
            .limit(limit)
            .offset(offset)
        )
        return [RateLimitBucket(**_values(row)) for row in rows]

    # -- attempts: the outbox's code messages for the account's services ------------------
    def _attempt_conditions(self, query: AttemptFilter) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = [
            outbox.c.verification_id == verifications.c.id,
            verifications.c.api_key_id == twilio_services.c.sid,
            twilio_services.c.account_sid == query.account_sid,
        ]
        if query.created_after is not None:
            conditions.append(outbox.c.created_at >= query.created_after)
        if query.created_before is not None:
            conditions.append(outbox.c.created_at <= query.created_before)
        if query.channel is not None:
            conditions.append(outbox.c.channel == query.channel)
        if query.service_sid is not None:
            conditions.append(twilio_services.c.sid == query.service_sid)
        if query.verification_id is not None:
            conditions.append(verifications.c.id == query.verification_id)
        if query.message_id is not None:
            conditions.append(outbox.c.id == query.message_id)
        if query.converted is True:
            conditions.append(verifications.c.status == "approved")
        if query.converted is False:
            conditions.append(verifications.c.status != "approved")
        return conditions

    async def _attempts(
        self, query: AttemptFilter, limit: int | None = None, offset: int = 0
    ) -> list[Attempt]:
        statement = (
            sa.select(
                outbox.c.id,
                outbox.c.verification_id,
                outbox.c.channel,
                verifications.c.destination,
                outbox.c.created_at,
                outbox.c.sent_at,
                outbox.c.status,
                verifications.c.status.label("verification_status"),
                twilio_services.c.sid.label("service_sid"),
            )
            .where(*self._attempt_conditions(query))
            .order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
        )
        if query.calling_code is None:  # else the page is cut after the prefix filter
            statement = statement.limit(limit).offset(offset)
        found = [
            Attempt(
                message_id=row.id,
                verification_id=row.verification_id,
                service_sid=row.service_sid,
                channel=row.channel,
                destination=unseal(self.box, DESTINATION, row.verification_id, row.destination),
                created_at=row.created_at,
                updated_at=row.sent_at or row.created_at,
                delivery_status=row.status,
                converted=row.verification_status == "approved",
            )
            for row in await self.connection.execute(statement)
        ]
        if query.calling_code is None:
            return found
        found = [item for item in found if item.destination.startswith(query.calling_code)]
        return found[offset:] if limit is None else found[offset : offset + limit]

    async def attempts(self, query: AttemptFilter, limit: int, offset: int) -> list[Attempt]:
        return await self._attempts(query, limit, offset)

    async def attempt_totals(self, query: AttemptFilter) -> tuple[int, int]:
        if query.calling_code is not None:
            found = await self._attempts(query)
            return len(found), sum(1 for item in found if item.converted)
        approved = sa.case((verifications.c.status == "approved", 1), else_=0)
        row = (
            await self.connection.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(approved), 0)).where(
                    *self._attempt_conditions(query)
                )
            )
        ).one()
        return int(row[0]), int(row[1])
