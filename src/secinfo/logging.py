"""Structured logs. Nothing secret is ever passed to a logger: no codes, tokens or bodies.

Libraries that log what they are given are kept quiet whatever the level: the database
drivers log every statement's parameters at debug level (contacts, password hashes, the
development mailbox's codes), the HTTP and SMTP clients log addresses and conversations.
"""

from __future__ import annotations

import logging

import structlog

# Loggers that would print parameters, addresses or message text: warnings and errors only.
QUIET_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "sqlalchemy.dialects",
    "sqlalchemy.orm",
    "httpx",
    "httpcore",
    "aiosmtplib",
    "mail.log",
)


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def configure_logging(level: str = "info", fmt: str = "console", *, cache: bool = True) -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, format="%(message)s")
    quiet_libraries()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=cache,
    )
