"""Verify services: what the Twilio Verify v2-compatible front end asks for.

Credentials (Account SID and auth token), services and their settings, programmable
rate limits and their buckets, attempts. Verifications themselves go through
:mod:`secinfo.services.verify_api`, the native Verify API's service: the same codes,
resend, limits, SMS-pumping guard and outbox, with the service as their owner.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Generic, TypeVar

from secinfo.domain.contacts import Channel, channel_of, mask
from secinfo.domain.errors import (
    ChannelNotOffered,
    InvalidApiKey,
    InvalidInput,
    NotFound,
)
from secinfo.domain.model import MessageStatus
from secinfo.domain.text import credential_name
from secinfo.domain.verification import Status, Verification
from secinfo.domain.verify_services import (
    ACCOUNT_PREFIX,
    BUCKET_PREFIX,
    RATE_LIMIT_PREFIX,
    SERVICE_POLICY,
    SERVICE_PREFIX,
    Attempt,
    AttemptFilter,
    RateLimitBucket,
    ServiceRateLimit,
    VerifyAccount,
    VerifyService,
    attempt_message_id,
    is_sid,
    new_sid,
    verification_id,
)
from secinfo.ports import UnitOfWork
from secinfo.services import verify_api
from secinfo.services.deps import Deps
from secinfo.services.fresh_cache import FreshCache, last_used_is_stale
from secinfo.services.verification import CheckOutcome, SendOptions

# -- credentials ---------------------------------------------------------------------------

# A valid (sid, token) is trusted this long without asking the database again; a
# revocation through this process takes effect at once (as for API keys).
CACHE_SECONDS = 10
LAST_USED_RESOLUTION_SECONDS = 300
_cache: FreshCache[str, VerifyAccount] = FreshCache(CACHE_SECONDS)


def _token_hash(account_sid: str, token: str) -> str:
    # 128 random bits: a plain SHA-256 suffices; the sid is bound in so a token
    # presented with another account's sid matches nothing.
    return hashlib.sha256(f"{account_sid}:{token}".encode()).hexdigest()


@dataclass(frozen=True)
class CreatedCredentials:
    account: VerifyAccount
    auth_token: str


async def create_credentials(deps: Deps, name: str) -> CreatedCredentials:
    name = credential_name(name, "credentials")
    sid = new_sid(ACCOUNT_PREFIX)
    token = secrets.token_hex(16)  # Twilio's auth tokens: 32 hex digits
    account = VerifyAccount(
        sid=sid, name=name, token_hash=_token_hash(sid, token), created_at=deps.clock.now()
    )
    async with deps.uow() as uow:
        await uow.verify_services.add_account(account)
        await uow.commit()
    return CreatedCredentials(account, token)


async def list_credentials(deps: Deps) -> list[VerifyAccount]:
    async with deps.uow() as uow:
        return await uow.verify_services.list_accounts()


async def revoke_credentials(deps: Deps, account_sid: str) -> VerifyAccount:
    async with deps.uow() as uow:
        account = await uow.verify_services.get_account(account_sid)
        if account is None:
            raise NotFound("No Twilio-compatible credentials with that Account SID.")
        if account.revoked_at is None:
            account.revoked_at = deps.clock.now()
            await uow.verify_services.update_account(account)
            await uow.commit()
    _cache.forget(deps, account.token_hash)
    return account


async def authenticate(deps: Deps, account_sid: str | None, token: str | None) -> VerifyAccount:
    """The account for HTTP Basic ``AccountSid:AuthToken``; anything else is refused."""
    if not account_sid or not token or not is_sid(account_sid, ACCOUNT_PREFIX):
        raise InvalidApiKey("Authenticate with your Account SID and auth token.")
    now = deps.clock.now()
    key = _token_hash(account_sid, token)
    hit = _cache.get(deps, key, now)
    if hit is not None:
        return hit
    async with deps.uow() as uow:
        account = await uow.verify_services.account_by_hash(key)
        if account is None or account.revoked_at is not None or account.sid != account_sid:
            _cache.forget(deps, key)
            raise InvalidApiKey("Authenticate with your Account SID and auth token.")
        if last_used_is_stale(account.last_used_at, now, LAST_USED_RESOLUTION_SECONDS):
            account.last_used_at = now
            await uow.verify_services.update_account(account)
            await uow.commit()
    _cache.put(deps, key, account, now)
    return account


# -- services ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceChanges:
    """A service's settings as given on a create or update; None: not given."""

    friendly_name: str | None = None
    code_length: int | None = None
    lookup_enabled: bool | None = None
    psd2_enabled: bool | None = None
    skip_sms_to_landlines: bool | None = None
    dtmf_input_required: bool | None = None
    tts_name: str | None = None
    do_not_share_warning_enabled: bool | None = None
    custom_code_enabled: bool | None = None
    default_template_sid: str | None = None


def _apply(service: VerifyService, changes: ServiceChanges) -> VerifyService:
    given = {
        item.name: getattr(changes, item.name)
        for item in fields(changes)
        if getattr(changes, item.name) is not None
    }
    updated = replace(service, **given)
    policy = SERVICE_POLICY
    name = updated.friendly_name.strip()
    if not name or len(name) > policy.max_friendly_name:
        raise InvalidInput(
            f"FriendlyName must be 1 to {policy.max_friendly_name} characters: it is the "
            "name the code message says it comes from.",
            parameter="FriendlyName",
        )
    if not policy.min_code_length <= updated.code_length <= policy.max_code_length:
        raise InvalidInput(
            f"CodeLength must be from {policy.min_code_length} to {policy.max_code_length}.",
            parameter="CodeLength",
        )
    if updated.custom_code_enabled:
        raise InvalidInput(
            "CustomCodeEnabled cannot be switched on: every code is generated here, so that "
            "no code is known before it is sent.",
            parameter="CustomCodeEnabled",
        )
    return replace(updated, friendly_name=name)


async def create_service(
    deps: Deps, account: VerifyAccount, changes: ServiceChanges
) -> VerifyService:
    if changes.friendly_name is None:
        raise InvalidInput("FriendlyName is required.", parameter="FriendlyName")
    now = deps.clock.now()
    service = _apply(
        VerifyService(
            sid=new_sid(SERVICE_PREFIX),
            account_sid=account.sid,
            friendly_name=changes.friendly_name,
            code_length=SERVICE_POLICY.default_code_length,
            created_at=now,
            updated_at=now,
        ),
        changes,
    )
    async with deps.uow() as uow:
        await uow.verify_services.add_service(service)
        await uow.commit()
    return service


async def _service(uow: UnitOfWork, account: VerifyAccount, service_sid: str) -> VerifyService:
    service = await uow.verify_services.get_service(account.sid, service_sid)
    if service is None:
        raise NotFound("No service with that sid in this account.", resource="Service")
    return service


async def get_service(deps: Deps, account: VerifyAccount, service_sid: str) -> VerifyService:
    async with deps.uow() as uow:
        return await _service(uow, account, service_sid)


# A service read for a verification call is trusted this long without asking the database
# again (one transaction less per start and check). A change made through this process
# applies at once; one made by another process within this many seconds.
SERVICE_CACHE_SECONDS = 10
_service_cache: FreshCache[tuple[str, str], VerifyService] = FreshCache(SERVICE_CACHE_SECONDS)


def _forget_service(deps: Deps, account: VerifyAccount, service_sid: str) -> None:
    _service_cache.forget(deps, (account.sid, service_sid))


async def _service_for_verifications(
    deps: Deps, account: VerifyAccount, service_sid: str
) -> VerifyService:
    """The account's service (else 20404), from the short cache when it is fresh."""
    key = (account.sid, service_sid)
    now = deps.clock.now()
    hit = _service_cache.get(deps, key, now)
    if hit is not None:
        return hit
    service = await get_service(deps, account, service_sid)
    _service_cache.put(deps, key, service, now)
    return service


async def update_service(
    deps: Deps, account: VerifyAccount, service_sid: str, changes: ServiceChanges
) -> VerifyService:
    async with deps.uow() as uow:
        service = _apply(await _service(uow, account, service_sid), changes)
        service.updated_at = deps.clock.now()
        await uow.verify_services.update_service(service)
        await uow.commit()
    _forget_service(deps, account, service_sid)
    return service


async def delete_service(deps: Deps, account: VerifyAccount, service_sid: str) -> None:
    """The service, its rate limits and buckets go; its verifications can no longer be
    reached (their owner is gone) and expire as they would."""
    async with deps.uow() as uow:
        if not await uow.verify_services.delete_service(account.sid, service_sid):
            raise NotFound("No service with that sid in this account.", resource="Service")
        await uow.commit()
    _forget_service(deps, account, service_sid)


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_more: bool


async def list_services(
    deps: Deps, account: VerifyAccount, page: int, page_size: int
) -> Page[VerifyService]:
    async with deps.uow() as uow:
        found = await uow.verify_services.list_services(
            account.sid, page_size + 1, page * page_size
        )
    return Page(found[:page_size], len(found) > page_size)


# -- verifications -------------------------------------------------------------------------

OFFERED_CHANNELS = {"sms": Channel.SMS, "email": Channel.EMAIL}


@dataclass(frozen=True)
class StartRequest:
    to: str
    channel: str
    locale: str = "en"
    custom_friendly_name: str | None = None
    device_ip: str | None = None
    rate_limits: dict[str, str] | None = None
    amount: str | None = None
    payee: str | None = None
    custom_code: str | None = None


async def _bucket_hits(
    deps: Deps, uow: UnitOfWork, service: VerifyService, keys: dict[str, str]
) -> list[tuple[RateLimitBucket, str, str]]:
    names = list(keys)
    if not names:
        return []
    found = {
        limit.unique_name: limit
        for limit in await uow.verify_services.rate_limits_named(service.sid, names)
    }
    missing = [name for name in names if name not in found]
    if missing:
        raise InvalidInput(
            f"RateLimits names {', '.join(missing)}, which this service does not have: "
            "create it with POST …/RateLimits first.",
            parameter="RateLimits",
        )
    hits: list[tuple[RateLimitBucket, str, str]] = []
    sids = [limit.sid for limit in found.values()]
    by_sid = {limit.sid: limit for limit in found.values()}
    for bucket in await uow.verify_services.list_buckets(sids, 1000, 0):
        limit = by_sid[bucket.rate_limit_sid]
        hits.append((bucket, str(keys[limit.unique_name]), limit.unique_name))
    return hits


async def start_verification(
    deps: Deps, account: VerifyAccount, service_sid: str, request: StartRequest
) -> Verification:
    channel = OFFERED_CHANNELS.get(request.channel.strip().lower())
    if channel is None:
        raise ChannelNotOffered(
            f"Channel '{request.channel}' is not offered here: codes go by 'sms' or 'email'.",
            parameter="Channel",
        )
    if request.custom_code:
        raise InvalidInput(
            "CustomCode is refused: every code is generated here, so that no code is known "
            "before it is sent.",
            parameter="CustomCode",
        )
    service = await _service_for_verifications(deps, account, service_sid)
    hits: list[tuple[RateLimitBucket, str, str]] = []
    if request.rate_limits:
        async with deps.uow() as uow:
            hits = await _bucket_hits(deps, uow, service, request.rate_limits)
    if service.psd2_enabled and not (request.amount and request.payee):
        raise InvalidInput("This service has PSD2 on: give Amount and Payee.", parameter="Amount")
    # The service's own rate limits first: a refusal there sends nothing.
    for bucket, key, name in hits:
        await deps.limiter.hit_rates(
            f"twilio.bucket.{bucket.sid}",
            f"{bucket.rate_limit_sid}:{key}",
            bucket.rates,
            f"rate limit {name}",
        )
    sender = (request.custom_friendly_name or "").strip()[:30] or service.friendly_name
    return await verify_api.start(
        deps,
        service,
        request.to,
        channel,
        request.locale,
        client_ip=request.device_ip,
        options=SendOptions(code_length=service.code_length, sender_name=sender),
    )


def _verification_id(sid: str) -> str:
    found = verification_id(sid)
    if found is None:
        raise NotFound("No verification with that sid.", resource="Verification")
    return found


async def check(
    deps: Deps,
    account: VerifyAccount,
    service_sid: str,
    code: str,
    *,
    to: str | None = None,
    verification_sid: str | None = None,
) -> CheckOutcome:
    if not code:
        raise InvalidInput("Code is required.", parameter="Code")
    if not to and not verification_sid:
        raise InvalidInput("Give To or VerificationSid.", parameter="To")
    service = await _service_for_verifications(deps, account, service_sid)
    if verification_sid:
        return await verify_api.check(deps, service, _verification_id(verification_sid), code)
    assert to is not None
    channel_of(to)  # a To that is neither a phone number nor an email is refused here
    return await verify_api.check_pending_to(deps, service, to, code)


def _gone_unless_pending(verification: Verification, now: datetime) -> None:
    """Twilio forgets a verification once it is approved, canceled or expired."""
    if verification.current_status(now) is not Status.PENDING:
        raise NotFound("No pending verification with that sid.", resource="Verification")


@dataclass(frozen=True)
class VerificationView:
    verification: Verification
    delivery_status: MessageStatus | None


async def fetch_verification(
    deps: Deps, account: VerifyAccount, service_sid: str, sid: str
) -> VerificationView:
    service = await _service_for_verifications(deps, account, service_sid)
    try:
        view = await verify_api.fetch(deps, service, _verification_id(sid))
    except NotFound:
        raise NotFound("No verification with that sid.", resource="Verification") from None
    _gone_unless_pending(view.verification, deps.clock.now())
    return VerificationView(view.verification, view.delivery_status)


async def update_verification(
    deps: Deps, account: VerifyAccount, service_sid: str, sid: str, status: str
) -> Verification:
    service = await _service_for_verifications(deps, account, service_sid)
    ident = _verification_id(sid)
    if status == "canceled":
        return await verify_api.cancel(deps, service, ident)
    if status == "approved":
        return await verify_api.approve(deps, service, ident)
    raise InvalidInput(
        f"Status '{status}' is not one a verification can be set to: use 'canceled' or 'approved'.",
        parameter="Status",
    )


def masked_to(verification: Verification) -> str:
    return mask(verification.channel, verification.destination)


# -- rate limits and buckets ---------------------------------------------------------------


def _unique_name(value: str) -> str:
    value = value.strip()
    if not value or len(value) > SERVICE_POLICY.max_unique_name:
        raise InvalidInput(
            f"UniqueName must be 1 to {SERVICE_POLICY.max_unique_name} characters.",
            parameter="UniqueName",
        )
    return value


async def create_rate_limit(
    deps: Deps,
    account: VerifyAccount,
    service_sid: str,
    unique_name: str,
    description: str | None,
) -> ServiceRateLimit:
    name = _unique_name(unique_name)
    now = deps.clock.now()
    async with deps.uow() as uow:
        service = await _service(uow, account, service_sid)
        if await uow.verify_services.rate_limits_named(service.sid, [name]):
            raise InvalidInput(
                f"This service already has a rate limit named {name!r}.",
                parameter="UniqueName",
            )
        if await uow.verify_services.count_rate_limits(service.sid) >= (
            SERVICE_POLICY.max_rate_limits
        ):
            raise InvalidInput(
                f"A service has at most {SERVICE_POLICY.max_rate_limits} rate limits.",
                parameter="UniqueName",
            )
        rate_limit = ServiceRateLimit(
            sid=new_sid(RATE_LIMIT_PREFIX),
            service_sid=service.sid,
            account_sid=account.sid,
            unique_name=name,
            description=(description or None) and description[:255],
            created_at=now,
            updated_at=now,
        )
        await uow.verify_services.add_rate_limit(rate_limit)
        await uow.commit()
    return rate_limit


async def _rate_limit(
    uow: UnitOfWork, account: VerifyAccount, service_sid: str, sid: str
) -> ServiceRateLimit:
    found = await uow.verify_services.get_rate_limit(account.sid, service_sid, sid)
    if found is None:
        raise NotFound("No rate limit with that sid in this service.", resource="RateLimit")
    return found


async def get_rate_limit(
    deps: Deps, account: VerifyAccount, service_sid: str, sid: str
) -> ServiceRateLimit:
    async with deps.uow() as uow:
        return await _rate_limit(uow, account, service_sid, sid)


async def update_rate_limit(
    deps: Deps, account: VerifyAccount, service_sid: str, sid: str, description: str | None
) -> ServiceRateLimit:
    async with deps.uow() as uow:
        rate_limit = await _rate_limit(uow, account, service_sid, sid)
        if description is not None:
            rate_limit.description = description[:255] or None
        rate_limit.updated_at = deps.clock.now()
        await uow.verify_services.update_rate_limit(rate_limit)
        await uow.commit()
    return rate_limit


async def delete_rate_limit(deps: Deps, account: VerifyAccount, service_sid: str, sid: str) -> None:
    async with deps.uow() as uow:
        rate_limit = await _rate_limit(uow, account, service_sid, sid)
        await uow.verify_services.delete_rate_limit(rate_limit)
        await uow.commit()


async def list_rate_limits(
    deps: Deps, account: VerifyAccount, service_sid: str, page: int, page_size: int
) -> Page[ServiceRateLimit]:
    async with deps.uow() as uow:
        service = await _service(uow, account, service_sid)
        found = await uow.verify_services.list_rate_limits(
            service.sid, page_size + 1, page * page_size
        )
    return Page(found[:page_size], len(found) > page_size)


def _bucket_values(max_: int | None, interval: int | None) -> tuple[int | None, int | None]:
    if max_ is not None and not 1 <= max_ <= 100000:
        raise InvalidInput("Max must be from 1 to 100000.", parameter="Max")
    limit = SERVICE_POLICY.max_bucket_interval_seconds
    if interval is not None and not 1 <= interval <= limit:
        raise InvalidInput(f"Interval must be from 1 to {limit} seconds.", parameter="Interval")
    return max_, interval


async def create_bucket(
    deps: Deps,
    account: VerifyAccount,
    service_sid: str,
    rate_limit_sid: str,
    max_: int | None,
    interval: int | None,
) -> RateLimitBucket:
    if max_ is None:
        raise InvalidInput("Max is required.", parameter="Max")
    if interval is None:
        raise InvalidInput("Interval is required.", parameter="Interval")
    _bucket_values(max_, interval)
    now = deps.clock.now()
    async with deps.uow() as uow:
        rate_limit = await _rate_limit(uow, account, service_sid, rate_limit_sid)
        existing = await uow.verify_services.list_buckets([rate_limit.sid], 1000, 0)
        if len(existing) >= SERVICE_POLICY.max_buckets:
            raise InvalidInput(
                f"A rate limit has at most {SERVICE_POLICY.max_buckets} buckets.",
                parameter="Max",
            )
        bucket = RateLimitBucket(
            sid=new_sid(BUCKET_PREFIX),
            rate_limit_sid=rate_limit.sid,
            service_sid=rate_limit.service_sid,
            account_sid=account.sid,
            max=max_,
            interval=interval,
            created_at=now,
            updated_at=now,
        )
        await uow.verify_services.add_bucket(bucket)
        await uow.commit()
    return bucket


async def _bucket(
    uow: UnitOfWork, account: VerifyAccount, service_sid: str, rate_limit_sid: str, sid: str
) -> RateLimitBucket:
    rate_limit = await _rate_limit(uow, account, service_sid, rate_limit_sid)
    bucket = await uow.verify_services.get_bucket(rate_limit.sid, sid)
    if bucket is None:
        raise NotFound("No bucket with that sid in this rate limit.", resource="Bucket")
    return bucket


async def get_bucket(
    deps: Deps, account: VerifyAccount, service_sid: str, rate_limit_sid: str, sid: str
) -> RateLimitBucket:
    async with deps.uow() as uow:
        return await _bucket(uow, account, service_sid, rate_limit_sid, sid)


async def update_bucket(
    deps: Deps,
    account: VerifyAccount,
    service_sid: str,
    rate_limit_sid: str,
    sid: str,
    max_: int | None,
    interval: int | None,
) -> RateLimitBucket:
    _bucket_values(max_, interval)
    async with deps.uow() as uow:
        bucket = await _bucket(uow, account, service_sid, rate_limit_sid, sid)
        if max_ is not None:
            bucket.max = max_
        if interval is not None:
            bucket.interval = interval
        bucket.updated_at = deps.clock.now()
        await uow.verify_services.update_bucket(bucket)
        await uow.commit()
    return bucket


async def delete_bucket(
    deps: Deps, account: VerifyAccount, service_sid: str, rate_limit_sid: str, sid: str
) -> None:
    async with deps.uow() as uow:
        bucket = await _bucket(uow, account, service_sid, rate_limit_sid, sid)
        await uow.verify_services.delete_bucket(bucket)
        await uow.commit()


async def list_buckets(
    deps: Deps,
    account: VerifyAccount,
    service_sid: str,
    rate_limit_sid: str,
    page: int,
    page_size: int,
) -> Page[RateLimitBucket]:
    async with deps.uow() as uow:
        rate_limit = await _rate_limit(uow, account, service_sid, rate_limit_sid)
        found = await uow.verify_services.list_buckets(
            [rate_limit.sid], page_size + 1, page * page_size
        )
    return Page(found[:page_size], len(found) > page_size)


# -- attempts ------------------------------------------------------------------------------


async def list_attempts(
    deps: Deps, query: AttemptFilter, page: int, page_size: int
) -> Page[Attempt]:
    async with deps.uow() as uow:
        found = await uow.verify_services.attempts(query, page_size + 1, page * page_size)
    return Page(found[:page_size], len(found) > page_size)


async def get_attempt(deps: Deps, account: VerifyAccount, sid: str) -> Attempt:
    message_id = attempt_message_id(sid)
    if message_id is not None:
        async with deps.uow() as uow:
            for attempt in await uow.verify_services.attempts(
                AttemptFilter(account_sid=account.sid, message_id=message_id), 1, 0
            ):
                return attempt
    raise NotFound("No attempt with that sid.", resource="Attempt")


@dataclass(frozen=True)
class AttemptTotals:
    attempts: int
    converted: int

    @property
    def unconverted(self) -> int:
        return self.attempts - self.converted

    @property
    def conversion_rate_percentage(self) -> str:
        if not self.attempts:
            return "0"
        return f"{self.converted * 100 / self.attempts:.2f}".rstrip("0").rstrip(".")


async def attempt_totals(deps: Deps, query: AttemptFilter) -> AttemptTotals:
    async with deps.uow() as uow:
        attempts, converted = await uow.verify_services.attempt_totals(query)
    return AttemptTotals(attempts, converted)
