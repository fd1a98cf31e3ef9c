"""Accounts: sign up with a verified sign-in name, sign in, sessions, password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from secinfo.domain.codes import new_token, token_hash
from secinfo.domain.contacts import mask, normalize_contact
from secinfo.domain.errors import (
    AccountLocked,
    DomainError,
    InvalidCredentials,
    SignInNameTaken,
    Unauthenticated,
)
from secinfo.domain.events import EventTag
from secinfo.domain.limits import client_network
from secinfo.domain.model import (
    Account,
    AccountStatus,
    Device,
    InfoKind,
    InfoState,
    RequestContext,
    SecurityInfo,
    Session,
)
from secinfo.domain.passwords import check_password_strength
from secinfo.domain.rules import network_of
from secinfo.domain.verification import Purpose, Verification
from secinfo.ports import UnitOfWork
from secinfo.services import activity, data_rights
from secinfo.services import verification as codes
from secinfo.services.deps import Deps, new_id
from secinfo.services.guards import ensure_unfrozen, require_privileged
from secinfo.services.messages import notify_contacts, queue_message

# A session's last_seen_at is written at most this often, not on every request.
LAST_SEEN_RESOLUTION_SECONDS = 300


@dataclass(frozen=True)
class SignUpStarted:
    verification_id: str
    channel: str
    to: str
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    token: str
    session: Session
    # Set when this device was not known yet: the client keeps it for later sign-ins.
    device_token: str | None = None
    # The account was closed (waiting for erasure): this sign-in kept it open.
    closure_canceled: bool = False


async def sign_up(
    deps: Deps, sign_in_name: str, password: str, context: RequestContext
) -> SignUpStarted:
    """Start a sign-up; the account is usable once the code sent to the name is typed back.

    The answer has the same shape whether or not the name is already taken: an existing
    holder gets a "someone tried to sign up" notice instead of a code.
    """
    channel, value = normalize_contact(sign_in_name)
    local_part = value.split("@")[0] if "@" in value else value
    check_password_strength(password, context=(local_part,))
    network = client_network(context.ip)
    if network:
        await deps.limiter.hit("sign_up.ip", network)
    password_hash = await deps.passwords.hash(password)
    now = deps.clock.now()
    async with deps.uow() as uow:
        existing = await uow.security_info.find_sign_in_name(value)
        verification = codes.new_verification(
            deps,
            purpose=Purpose.SIGN_UP,
            channel=channel,
            destination=value,
            locale=context.locale,
        )
        if existing is not None:
            await _answer_taken_name(deps, uow, verification, existing, context.ip)
        else:
            account = Account(
                id=new_id("acc"),
                password_hash=password_hash,
                status=AccountStatus.PENDING,
                created_at=now,
                locale=context.locale,
            )
            item = SecurityInfo(
                id=new_id("inf"),
                account_id=account.id,
                kind=InfoKind.for_channel(channel),
                value=value,
                state=InfoState.PENDING,
                added_at=now,
                sign_in=True,
            )
            await uow.accounts.add(account)
            await uow.security_info.add(item)
            verification.account_id = account.id
            verification.subject_id = item.id
            await codes.start(deps, uow, verification, client_ip=context.ip)
            await activity.record(deps, uow, account.id, EventTag.ACCOUNT_CREATED, context)
        await uow.commit()
    deps.outbox_wakeup()
    return SignUpStarted(
        verification.id, channel.value, mask(channel, value), verification.expires_at
    )


async def _answer_taken_name(
    deps: Deps,
    uow: UnitOfWork,
    verification: Verification,
    existing: SecurityInfo,
    client_ip: str | None,
) -> None:
    """Look like a normal sign-up (same rules and limits), but tell the real holder
    instead of sending a code."""
    await codes.record_silent_send(deps, uow, verification, client_ip=client_ip)
    await uow.verifications.add(verification)
    account = await uow.accounts.get(existing.account_id)
    await queue_message(
        deps,
        uow,
        channel=verification.channel,
        destination=existing.value,
        template="sign_up_existing",
        locale=account.locale if account else verification.locale,
        context={"account": existing.masked},
    )


async def resend_sign_up_code(
    deps: Deps, verification_id: str, *, client_ip: str | None
) -> Verification:
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(uow, verification_id, None, {Purpose.SIGN_UP})
        # A sign-up for a taken name resends nothing, under the same rules and limits.
        await codes.resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def confirm_sign_up(
    deps: Deps, verification_id: str, code: str, context: RequestContext
) -> NewSession:
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(uow, verification_id, None, {Purpose.SIGN_UP})
        outcome = await codes.check(deps, uow, verification, code)
        new_session = None
        if outcome.valid and verification.account_id and verification.subject_id:
            new_session = await _activate(deps, uow, verification, context)
        await uow.commit()
    codes.raise_if_invalid(outcome)
    if new_session is None:  # approved, but nothing to activate: cannot happen by design
        raise DomainError("This sign-up cannot be completed; sign up again.")
    return new_session


async def _activate(
    deps: Deps, uow: UnitOfWork, verification: Verification, context: RequestContext
) -> NewSession:
    now = deps.clock.now()
    account = await uow.accounts.get(verification.account_id or "")
    item = await uow.security_info.get(verification.subject_id or "")
    if account is None or item is None:
        raise DomainError("This sign-up cannot be completed; sign up again.")
    if await uow.security_info.find_sign_in_name(item.value) is not None:
        raise SignInNameTaken(
            "Another account finished signing up with this name first; sign in to it instead."
        )
    account.status = AccountStatus.ACTIVE
    item.state = InfoState.ACTIVE
    item.verified_at = now
    item.last_used_at = now
    await uow.accounts.update(account)
    await uow.security_info.update(item)
    await activity.record(deps, uow, account.id, EventTag.ACCOUNT_ACTIVATED, context)
    return await open_session(deps, uow, account, context)


async def open_session(
    deps: Deps, uow: UnitOfWork, account: Account, context: RequestContext
) -> NewSession:
    now = deps.clock.now()
    closure_canceled = await data_rights.cancel_closure(deps, uow, account, context)
    token = new_token("sis")
    session = Session(
        id=new_id("ses"),
        account_id=account.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + deps.config.session_ttl,
        last_seen_at=now,
        ip=context.ip,
        user_agent=context.user_agent,
    )
    await uow.sessions.add(session)
    account.last_sign_in_at = now
    await uow.accounts.record_sign_in(account.id, now)
    # After that write, which waits for a lock being written at this moment: either the
    # lock is seen here, or its revocation of the sessions sees this one.
    current = await uow.accounts.get(account.id)
    if current is not None and current.locked:
        raise AccountLocked()
    network = network_of(context.ip)
    if network is not None:
        await uow.known_networks.remember(
            account.id, network, deps.countries.country(context.ip), now
        )
    device_token = await _remember_device(deps, uow, account, context)
    return NewSession(token, session, device_token, closure_canceled)


async def _remember_device(
    deps: Deps, uow: UnitOfWork, account: Account, context: RequestContext
) -> str | None:
    """Mark the device seen; issue a device token when it is new."""
    now = deps.clock.now()
    if context.device_token:
        device = await uow.devices.get_by_token_hash(account.id, token_hash(context.device_token))
        if device is not None:
            device.last_seen_at = now
            await uow.devices.update(device)
            return None
    token = new_token("sid")
    await uow.devices.add(
        Device(
            id=new_id("dev"),
            account_id=account.id,
            token_hash=token_hash(token),
            created_at=now,
            last_seen_at=now,
            user_agent=context.user_agent,
        )
    )
    return token


async def authenticate(deps: Deps, token: str | None) -> Session:
    """The live session for a bearer token, or :class:`Unauthenticated`."""
    session, _ = await _authenticate(deps, token, with_locale=False)
    return session


async def authenticate_with_locale(deps: Deps, token: str | None) -> tuple[Session, str | None]:
    """The live session and its account's locale (its messages' language, and the pages'
    unless the reader chose one), read in the same unit of work."""
    return await _authenticate(deps, token, with_locale=True)


async def _authenticate(
    deps: Deps, token: str | None, *, with_locale: bool
) -> tuple[Session, str | None]:
    if not token:
        raise Unauthenticated()
    now = deps.clock.now()
    locale = None
    async with deps.uow() as uow:
        session = await uow.sessions.get_by_token_hash(token_hash(token))
        if session is None or not session.is_live(now):
            raise Unauthenticated("The session has ended or is not valid; sign in again.")
        if with_locale:
            account = await uow.accounts.get(session.account_id)
            locale = account.locale if account is not None else None
        if (now - session.last_seen_at).total_seconds() > LAST_SEEN_RESOLUTION_SECONDS:
            session.last_seen_at = now
            await uow.sessions.update(session)
            await uow.commit()
    return session, locale


async def sign_out(deps: Deps, session: Session, context: RequestContext) -> None:
    async with deps.uow() as uow:
        session.revoked_at = deps.clock.now()
        await uow.sessions.update(session)
        await activity.record(deps, uow, session.account_id, EventTag.SIGN_OUT, context)
        await uow.commit()


async def sign_out_everywhere(deps: Deps, session: Session, context: RequestContext) -> int:
    async with deps.uow() as uow:
        count = await uow.sessions.revoke_all(session.account_id, deps.clock.now())
        await activity.record(
            deps, uow, session.account_id, EventTag.SIGN_OUT_EVERYWHERE, context, sessions=count
        )
        await uow.commit()
    return count


async def change_password(
    deps: Deps,
    session: Session,
    current_password: str,
    new_password: str,
    context: RequestContext,
) -> None:
    """Needs step-up and the current password; ends every other session."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        await ensure_unfrozen(uow, session.account_id)
        account = await uow.accounts.get(session.account_id)
        items = await uow.security_info.list_for_account(session.account_id)
    if account is None:
        raise Unauthenticated()
    if not await deps.passwords.verify(account.password_hash, current_password):
        raise InvalidCredentials("The current password is not right.")
    names = tuple(item.value.split("@")[0] for item in items if item.sign_in)
    check_password_strength(new_password, context=names)
    new_hash = await deps.passwords.hash(new_password)
    async with deps.uow() as uow:
        account = await uow.accounts.get(session.account_id)
        if account is None:
            raise Unauthenticated()
        account.password_hash = new_hash
        account.password_changed_at = deps.clock.now()
        await uow.accounts.update(account)
        await uow.sessions.revoke_all(account.id, deps.clock.now(), keep_session_id=session.id)
        await activity.record(deps, uow, account.id, EventTag.PASSWORD_CHANGED, context)
        await notify_contacts(deps, uow, account, "password_changed", {})
        await uow.commit()
    deps.outbox_wakeup()
