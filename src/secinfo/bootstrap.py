"""The one place where adapters are built from settings. Nothing connects at import."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.clock import SystemClock
from secinfo.adapters.delivery.devmailbox import DevMailbox
from secinfo.adapters.delivery.templates import JinjaRenderer
from secinfo.adapters.passwords import Argon2Passwords
from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.database import create_engine
from secinfo.adapters.sql.outbox_queue import SqlOutboxQueue
from secinfo.adapters.sql.uow import SqlUnitOfWorkFactory
from secinfo.config import Settings
from secinfo.domain.codes import CodeHasher
from secinfo.domain.contacts import Channel
from secinfo.domain.verification import CodePolicy
from secinfo.ports import Clock, MessageSender, PasswordHasher
from secinfo.services.deps import Deps, ServiceConfig
from secinfo.worker import Deliverer, RetryPolicy


@dataclass
class App:
    """Everything a process needs: services' dependencies, delivery, development mailbox."""

    settings: Settings
    engine: AsyncEngine
    deps: Deps
    deliverer: Deliverer
    mailbox: DevMailbox | None

    async def close(self) -> None:
        await self.engine.dispose()


def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(
        product_name=settings.product_name,
        web_domain=settings.web_domain,
        session_ttl=timedelta(days=settings.session_ttl_days),
        step_up_window=timedelta(seconds=settings.step_up_window_seconds),
        code_policy=CodePolicy(
            length=settings.code_length,
            alphanumeric=settings.code_alphanumeric,
            ttl=timedelta(seconds=settings.code_ttl_seconds),
            max_checks=settings.code_max_checks,
            max_sends=settings.code_max_sends,
            resend_cooldown=timedelta(seconds=settings.resend_cooldown_seconds),
        ),
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    passwords: PasswordHasher | None = None,
    senders: dict[Channel, MessageSender] | None = None,
) -> App:
    """Build the application from settings; tests may plug in a clock, hasher or senders."""
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    box = SecretBox(settings.encryption_key_list())
    clock = clock or SystemClock()
    mailbox = DevMailbox(engine) if settings.is_development else None
    if senders is None:
        if mailbox is None:
            raise RuntimeError(
                "production needs real senders: SMTP and SMS come with the delivery settings"
            )
        senders = {Channel.EMAIL: mailbox, Channel.SMS: mailbox}
    deps = Deps(
        uow=SqlUnitOfWorkFactory(engine, box),
        clock=clock,
        passwords=passwords
        or Argon2Passwords(
            time_cost=settings.argon2_time_cost, memory_cost_kib=settings.argon2_memory_kib
        ),
        codes=CodeHasher(settings.code_secret()),
        renderer=JinjaRenderer(settings.template_dir),
        config=service_config(settings),
    )
    deliverer = Deliverer(
        queue=SqlOutboxQueue(engine, box),
        senders=senders,
        clock=clock,
        retry=RetryPolicy(max_attempts=settings.delivery_max_attempts),
        batch_size=settings.delivery_batch_size,
    )
    return App(settings=settings, engine=engine, deps=deps, deliverer=deliverer, mailbox=mailbox)
