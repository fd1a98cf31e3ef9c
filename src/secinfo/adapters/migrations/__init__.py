"""Schema migrations (Alembic), run with ``secinfo migrate`` or at ``make run``."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.secretbox import SecretBox

HERE = Path(__file__).parent


def alembic_config(connection: Connection | None = None, box: SecretBox | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    config.attributes["box"] = box
    return config


async def migrate(
    engine: AsyncEngine, revision: str = "head", *, box: SecretBox | None = None
) -> None:
    """Bring the database schema up to ``revision``.

    ``box`` holds the service's keys: a migration that seals what is already stored
    (0014, contacts at rest) needs them when there are rows to convert.

    Alembic's own chatter ("Context impl SQLiteImpl", "Will assume non-transactional DDL")
    is only shown at debug level; each migration applied is still logged at info.
    """
    runtime = logging.getLogger("alembic.runtime.migration")
    if not runtime.isEnabledFor(logging.DEBUG) and _quiet_alembic_context not in runtime.filters:
        runtime.addFilter(_quiet_alembic_context)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync, box), revision))


def _quiet_alembic_context(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (message.startswith("Context impl") or message.startswith("Will assume"))


async def downgrade(engine: AsyncEngine, revision: str, *, box: SecretBox | None = None) -> None:
    """Take the schema back down to ``revision`` (tests; an operator's way back)."""
    async with engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.downgrade(alembic_config(sync, box), revision)
        )
