"""The SQL unit of work: one connection, one transaction, every repository on it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.flow_repositories import (
    SqlBilling,
    SqlChallenges,
    SqlDevices,
    SqlKnownNetworks,
    SqlPasskeyChallenges,
    SqlPendingChanges,
    SqlPrefixBlocks,
    SqlRecoveries,
)
from secinfo.adapters.sql.operators import SqlOperators
from secinfo.adapters.sql.outbox_admin import SqlOutboxLog
from secinfo.adapters.sql.personal_data import SqlPersonalData
from secinfo.adapters.sql.repositories import (
    SqlAccounts,
    SqlActivity,
    SqlApiKeys,
    SqlOutbox,
    SqlSecurityInfo,
    SqlSessions,
    SqlVerifications,
)
from secinfo.adapters.sql.verify_service_repository import SqlVerifyServices
from secinfo.adapters.sql.webhooks import SqlWebhookEndpoints


class SqlUnitOfWork:
    accounts: SqlAccounts
    security_info: SqlSecurityInfo
    verifications: SqlVerifications
    sessions: SqlSessions
    api_keys: SqlApiKeys
    outbox: SqlOutbox
    activity: SqlActivity
    pending_changes: SqlPendingChanges
    devices: SqlDevices
    known_networks: SqlKnownNetworks
    challenges: SqlChallenges
    recoveries: SqlRecoveries
    passkey_challenges: SqlPasskeyChallenges
    billing: SqlBilling
    prefix_blocks: SqlPrefixBlocks
    webhooks: SqlWebhookEndpoints
    verify_services: SqlVerifyServices
    personal_data: SqlPersonalData
    operators: SqlOperators
    outbox_log: SqlOutboxLog

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        connection = await self._engine.connect()
        await connection.begin()
        self._connection = connection
        row_locks = self._engine.dialect.name == "postgresql"
        self.accounts = SqlAccounts(connection)
        self.security_info = SqlSecurityInfo(connection, self._box)
        self.verifications = SqlVerifications(connection, self._box, row_locks=row_locks)
        self.sessions = SqlSessions(connection)
        self.api_keys = SqlApiKeys(connection)
        self.outbox = SqlOutbox(connection, self._box)
        self.activity = SqlActivity(connection)
        self.pending_changes = SqlPendingChanges(connection, row_locks=row_locks)
        self.devices = SqlDevices(connection)
        self.known_networks = SqlKnownNetworks(connection)
        self.challenges = SqlChallenges(connection)
        self.recoveries = SqlRecoveries(connection)
        self.passkey_challenges = SqlPasskeyChallenges(connection)
        self.billing = SqlBilling(connection)
        self.prefix_blocks = SqlPrefixBlocks(connection)
        self.webhooks = SqlWebhookEndpoints(connection, self._box)
        self.verify_services = SqlVerifyServices(connection, self._box)
        self.personal_data = SqlPersonalData(connection, self._box)
        self.operators = SqlOperators(connection)
        self.outbox_log = SqlOutboxLog(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection = self._connection
        self._connection = None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                await connection.rollback()
        finally:
            await connection.close()

    async def relax_durability(self) -> None:
        assert self._connection is not None, "outside the unit of work"
        if self._engine.dialect.name == "postgresql":
            await self._connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    async def commit(self) -> None:
        assert self._connection is not None, "commit outside the unit of work"
        await self._connection.commit()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.box)
