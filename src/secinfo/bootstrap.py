"""The one place where adapters are built from settings. Nothing connects at import."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from secinfo.adapters.clock import SystemClock
from secinfo.adapters.delivery.devmailbox import DevMailbox
from secinfo.adapters.delivery.sms import TwilioSender, WebhookSender
from secinfo.adapters.delivery.smtp import SmtpConfig, SmtpSender
from secinfo.adapters.delivery.templates import JinjaRenderer
from secinfo.adapters.delivery.webhooks import StandardWebhookSender
from secinfo.adapters.geoip import CsvCountries
from secinfo.adapters.passwords import Argon2Passwords
from secinfo.adapters.ratelimit.limiter import memory_limiter, redis_limiter
from secinfo.adapters.secretbox import SecretBox
from secinfo.adapters.sql.database import create_engine
from secinfo.adapters.sql.outbox_queue import SqlOutboxQueue
from secinfo.adapters.sql.uow import SqlUnitOfWorkFactory
from secinfo.config import ConfigError, Settings
from secinfo.domain.codes import CodeHasher
from secinfo.domain.contacts import Channel
from secinfo.domain.data_rights import ErasurePolicy
from secinfo.domain.limits import Category, with_overrides
from secinfo.domain.passkeys import PasskeyPolicy
from secinfo.domain.pumping import PumpingPolicy
from secinfo.domain.rules import ReconfirmPolicy, SignInPolicy, WaitingPeriodPolicy
from secinfo.domain.verification import CodePolicy
from secinfo.domain.webhooks import DeliveryTarget, WebhookPolicy
from secinfo.ports import Clock, MessageSender, PasswordHasher, RateLimiter
from secinfo.services import webhooks
from secinfo.services.deps import Deps, ServiceConfig, UnknownCountries
from secinfo.worker import Deliverer, RetryPolicy


@dataclass
class App:
    """Everything a process needs: services' dependencies, delivery, development mailbox."""

    settings: Settings
    engine: AsyncEngine
    deps: Deps
    deliverer: Deliverer
    mailbox: DevMailbox | None
    box: SecretBox
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> None:
        for close in self.closers:
            await close()
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
        public_url=settings.base_url,
        waiting_period=WaitingPeriodPolicy(
            length=timedelta(days=settings.waiting_period_days),
            reminder_every=timedelta(days=settings.waiting_reminder_days),
        ),
        sign_in=SignInPolicy(
            inactivity=timedelta(days=settings.inactivity_days),
            challenge_ttl=timedelta(minutes=settings.challenge_ttl_minutes),
        ),
        reconfirm=ReconfirmPolicy(
            period=timedelta(days=settings.reconfirm_days),
            skip_for=timedelta(hours=settings.reconfirm_skip_hours),
            grace=timedelta(days=settings.reconfirm_grace_days),
        ),
        activity_retention=timedelta(days=settings.activity_retention_days),
        passkeys=PasskeyPolicy(options_ttl=timedelta(seconds=settings.passkey_options_seconds)),
        erasure=ErasurePolicy(grace=timedelta(days=settings.erasure_grace_days)),
        pumping=PumpingPolicy(
            allowed_countries=settings.country_set(settings.sms_allowed_countries),
            denied_countries=settings.country_set(settings.sms_denied_countries),
            refuse_voip=settings.sms_refuse_voip,
            window=timedelta(minutes=settings.pumping_window_minutes),
            min_sends=settings.pumping_min_sends,
            min_conversion=settings.pumping_min_conversion,
            block_for=timedelta(hours=settings.pumping_block_hours),
            prefix_digits=settings.pumping_prefix_digits,
        ),
        webhooks=WebhookPolicy(
            allow_http=(
                settings.is_development
                if settings.webhook_allow_http is None
                else settings.webhook_allow_http
            ),
            rotation_overlap=timedelta(hours=settings.webhook_rotation_overlap_hours),
            # A send never outlasts the worker's own send timeout.
            timeout_seconds=min(
                settings.webhook_timeout_seconds, settings.delivery_send_timeout_seconds
            ),
        ),
    )


def build_limiter(settings: Settings) -> RateLimiter:
    """Redis when configured (shared by every process), else in memory (one process)."""
    table = with_overrides(settings.rate_limits)
    fail_open = {
        "refuse_sends": frozenset({Category.CHECK, Category.SIGN_IN}),
        "refuse_all": frozenset[Category](),
        "allow_all": frozenset(Category),
    }[settings.rate_limit_outage]
    # Under refuse_sends the checks and sign-ins that go on while Redis is away are still
    # limited, by a per-process memory limiter (per name and per network).
    fallback = fail_open if settings.rate_limit_outage == "refuse_sends" else frozenset()
    if settings.redis_url:
        return redis_limiter(
            settings.redis_url,
            table,
            key_prefix=settings.redis_key_prefix,
            key_secret=settings.code_secret(),
            fail_open=fail_open,
            fallback=fallback,
        )
    return memory_limiter(table, key_secret=settings.code_secret(), fail_open=fail_open)


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    passwords: PasswordHasher | None = None,
    senders: dict[Channel, MessageSender] | None = None,
) -> App:
    """Build the application from settings; tests may plug in a clock, hasher or senders."""
    passwords = passwords or Argon2Passwords(settings.password_hash_policy())
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    box = settings.secret_box()
    clock = clock or SystemClock()
    mailbox = DevMailbox(engine) if settings.is_development else None
    renderer = JinjaRenderer(settings.template_dir)
    if senders is None:
        senders = delivery_senders(settings, mailbox, renderer)
    deps = Deps(
        uow=SqlUnitOfWorkFactory(engine, box),
        clock=clock,
        passwords=passwords,
        codes=CodeHasher(settings.code_secret()),
        renderer=renderer,
        config=service_config(settings),
        countries=CsvCountries(settings.geoip_csv) if settings.geoip_csv else UnknownCountries(),
        limiter=build_limiter(settings),
    )
    senders = dict(senders)
    if Channel.WEBHOOK not in senders:
        senders[Channel.WEBHOOK] = webhook_sender(deps)
    deliverer = Deliverer(
        queue=SqlOutboxQueue(engine, box),
        senders=senders,
        clock=clock,
        retry=RetryPolicy(
            first_delay=timedelta(seconds=settings.delivery_retry_first_seconds),
            max_delay=timedelta(seconds=settings.delivery_retry_max_seconds),
            max_attempts=settings.delivery_max_attempts,
        ),
        retries={
            Channel.WEBHOOK: RetryPolicy(
                first_delay=timedelta(seconds=settings.delivery_retry_first_seconds),
                max_delay=timedelta(seconds=settings.webhook_retry_max_seconds),
                max_attempts=settings.webhook_max_attempts,
            )
        },
        batch_size=settings.delivery_batch_size,
        lease_seconds=settings.delivery_lease_seconds,
        send_timeout=settings.delivery_send_timeout_seconds,
        concurrency=settings.delivery_concurrency,
    )
    closers: list[Callable[[], Awaitable[None]]] = [
        sender.close
        for sender in dict.fromkeys(senders.values())
        if isinstance(sender, SmtpSender | TwilioSender | WebhookSender | StandardWebhookSender)
    ]
    if isinstance(passwords, Argon2Passwords):
        closers.append(passwords.close)
    return App(
        settings=settings,
        engine=engine,
        deps=deps,
        deliverer=deliverer,
        mailbox=mailbox,
        box=box,
        closers=closers,
    )


def webhook_sender(deps: Deps) -> StandardWebhookSender:
    """Signed webhooks to operators' endpoints, in development as in production."""

    async def targets(endpoint_id: str) -> DeliveryTarget | None:
        return await webhooks.target(deps, endpoint_id)

    async def gone(endpoint_id: str) -> None:
        await webhooks.endpoint_gone(deps, endpoint_id)

    return StandardWebhookSender(
        targets=targets,
        on_gone=gone,
        clock=deps.clock,
        timeout=deps.config.webhooks.timeout_seconds,
    )


# -- delivery: which sender serves each channel ------------------------------------------
def delivery_senders(
    settings: Settings, mailbox: DevMailbox | None, renderer: JinjaRenderer
) -> dict[Channel, MessageSender]:
    """A configured channel uses its real sender; an unconfigured one the development
    mailbox, which production does not have (settings validation names what is missing)."""
    senders: dict[Channel, MessageSender] = {}
    if settings.smtp_host:
        senders[Channel.EMAIL] = smtp_sender(settings, renderer)
    if settings.sms_provider == "twilio":
        senders[Channel.SMS] = TwilioSender(
            account_sid=settings.sms_twilio_account_sid or "",
            auth_token=(
                settings.sms_twilio_auth_token.get_secret_value()
                if settings.sms_twilio_auth_token
                else ""
            ),
            sender=settings.sms_from or "",
            base_url=settings.sms_twilio_base_url,
            timeout=settings.sms_timeout_seconds,
            max_connections=settings.sms_max_connections,
        )
    elif settings.sms_provider == "webhook":
        senders[Channel.SMS] = WebhookSender(
            url=settings.sms_webhook_url or "",
            body_template=settings.sms_webhook_body,
            method=settings.sms_webhook_method,
            headers=dict(settings.sms_webhook_headers),
            sender=settings.sms_from or "",
            id_field=settings.sms_webhook_id_field,
            timeout=settings.sms_timeout_seconds,
            max_connections=settings.sms_max_connections,
        )
    for channel, setting in ((Channel.EMAIL, "SMTP_HOST"), (Channel.SMS, "SMS_PROVIDER")):
        if channel not in senders:
            if mailbox is None:
                raise ConfigError(f"production needs SECINFO_{setting} to send {channel.value}")
            senders[channel] = mailbox
    return senders


def smtp_sender(settings: Settings, renderer: JinjaRenderer) -> SmtpSender:
    tls_context = None
    if settings.smtp_ca_file is not None:
        tls_context = ssl.create_default_context(cafile=str(settings.smtp_ca_file))
    return SmtpSender(
        SmtpConfig(
            host=settings.smtp_host or "",
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
            from_address=settings.smtp_from_address or "",
            from_name=settings.smtp_from_name or settings.product_name,
            tls_context=tls_context,
            max_connections=settings.smtp_max_connections,
        ),
        html=renderer.email_html,
    )
