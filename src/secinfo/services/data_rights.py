"""Data rights: export everything held about a person, close an account, erase it.

- Export (art. 15, 20): one JSON document, contact values unmasked, never a secret (no
  password hash, TOTP secret, recovery code, code hash, session or device token, and no
  message body: messages are listed by type, channel, time and status).
- Closing (art. 17, by the holder): needs step-up and the password; every session ends,
  every contact is told in the same transaction; the personal data is erased by the
  scheduler after the grace period, unless the holder signs in before (which cancels it).
- Erasure (at the end of the grace period, or at once by an operator): one transaction,
  claimed by a conditional write so it happens once; a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from secinfo.domain.data_rights import EXPORT_FORMAT, erased_value, is_erased_value
from secinfo.domain.dates import format_moment
from secinfo.domain.errors import AccountClosed, InvalidCredentials, NotFound, Unauthenticated
from secinfo.domain.events import EventTag
from secinfo.domain.model import Account, AccountStatus, RequestContext, Session
from secinfo.ports import ErasurePlan, HeldData, UnitOfWork
from secinfo.services import activity
from secinfo.services.deps import Deps
from secinfo.services.guards import require_privileged
from secinfo.services.messages import notify_contacts

log = structlog.get_logger("secinfo.data_rights")


# -- export ------------------------------------------------------------------------------------
def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_document(held: HeldData, now: datetime) -> dict[str, Any]:
    """The export: every record about the person, in plain JSON types."""
    account = held.account
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "account": {
            "id": account.id,
            "status": account.status.value,
            "operator_since": _moment(held.operator_since),
            "locale": account.locale,
            "created_at": _moment(account.created_at),
            "last_sign_in_at": _moment(account.last_sign_in_at),
            "password_changed_at": _moment(account.password_changed_at),
            "two_step_enabled": account.two_step_enabled,
            "password_reset_required": account.password_reset_required,
            "closed_at": _moment(account.closed_at),
            "erase_at": _moment(account.erase_at),
            "locked_at": _moment(account.locked_at),
            "locked_reason": account.locked_reason,
        },
        "sign_in_names": [
            {"value": item.value, "kind": item.kind.value, "state": item.state.value}
            for item in held.items
            if item.sign_in and item.channel is not None
        ],
        "security_info": [
            {
                "id": item.id,
                "kind": item.kind.value,
                # An authenticator or the recovery code has no value to show; their
                # secrets are never exported.
                "value": item.value if item.channel is not None else None,
                "label": item.label,
                "state": item.state.value,
                "sign_in_name": item.sign_in,
                "added_at": _moment(item.added_at),
                "verified_at": _moment(item.verified_at),
                "last_used_at": _moment(item.last_used_at),
                "removed_at": _moment(item.removed_at),
            }
            for item in held.items
        ],
        "sessions": [
            {
                "id": session.id,
                "created_at": _moment(session.created_at),
                "last_seen_at": _moment(session.last_seen_at),
                "expires_at": _moment(session.expires_at),
                "revoked_at": _moment(session.revoked_at),
                "ip": session.ip,
                "user_agent": session.user_agent,
            }
            for session in held.sessions
        ],
        "devices": [
            {
                "id": device.id,
                "created_at": _moment(device.created_at),
                "last_seen_at": _moment(device.last_seen_at),
                "user_agent": device.user_agent,
            }
            for device in held.devices
        ],
        "known_networks": [
            {
                "network": network.network,
                "country": network.country,
                "first_seen_at": _moment(network.first_seen_at),
                "last_seen_at": _moment(network.last_seen_at),
            }
            for network in held.networks
        ],
        "sign_in_challenges": [
            {
                "id": challenge.id,
                "reason": challenge.reason.value,
                "created_at": _moment(challenge.created_at),
                "completed_at": _moment(challenge.completed_at),
                "ip": challenge.ip,
                "user_agent": challenge.user_agent,
            }
            for challenge in held.challenges
        ],
        "verifications": [
            {
                "id": verification.id,
                "purpose": verification.purpose.value,
                "channel": verification.channel.value,
                "to": verification.destination,
                "status": verification.current_status(now).value,
                "created_at": _moment(verification.created_at),
                "approved_at": _moment(verification.approved_at),
                "send_attempts": verification.send_attempts,
                "check_attempts": verification.check_attempts,
            }
            for verification in held.verifications
        ],
        "pending_changes": [
            {
                "id": change.id,
                "kind": change.kind.value,
                "status": change.status.value,
                "created_at": _moment(change.created_at),
                "ends_at": _moment(change.ends_at),
                "canceled_at": _moment(change.canceled_at),
                "completed_at": _moment(change.completed_at),
                "security_info_ids": change.item_ids,
                "new_security_info_id": change.new_item_id,
            }
            for change in held.pending_changes
        ],
        "recoveries": [
            {
                "id": recovery.id,
                "created_at": _moment(recovery.created_at),
                "completed_at": _moment(recovery.completed_at),
            }
            for recovery in held.recoveries
        ],
        "activity": [
            {
                "id": event.id,
                "type": event.type,
                "created_at": _moment(event.created_at),
                "outcome": event.outcome,
                "ip": event.ip,
                "user_agent": event.user_agent,
                "country": event.country,
                "details": event.details,
            }
            for event in held.activity
        ],
        "messages": [
            {
                "id": message.id,
                "type": message.template,
                "channel": message.channel,
                "to": message.destination,
                "created_at": _moment(message.created_at),
                "sent_at": _moment(message.sent_at),
                "status": message.status,
                "attempts": message.attempts,
            }
            for message in held.messages
        ],
        "billing_profile": held.billing,
    }


async def export_mine(deps: Deps, session: Session, context: RequestContext) -> dict[str, Any]:
    """The holder's own export: needs step-up; the contacts are told it was downloaded."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        held = await uow.personal_data.held(session.account_id)
        account = await uow.accounts.get(session.account_id)
        if held is None or account is None:
            raise Unauthenticated()
        await activity.record(deps, uow, account.id, EventTag.DATA_EXPORTED, context)
        await notify_contacts(deps, uow, account, "data_exported", {})
        await uow.commit()
    deps.outbox_wakeup()
    return export_document(held, deps.clock.now())


async def export_account(
    deps: Deps, account_id: str, *, by: str, api_key_name: str | None = None
) -> dict[str, Any]:
    """An operator's export for a data-protection request (``by``: ``cli`` or
    ``admin_api`` with the key's name); recorded in the account's activity."""
    async with deps.uow() as uow:
        held = await uow.personal_data.held(account_id)
        if held is None:
            raise NotFound("No account with that id.")
        if held.account.status is not AccountStatus.ERASED:
            await activity.record(
                deps,
                uow,
                account_id,
                EventTag.DATA_EXPORTED,
                RequestContext(),
                by=by,
                api_key_name=api_key_name,
            )
            await uow.commit()
    return export_document(held, deps.clock.now())


# -- closing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Closure:
    account_id: str
    closed_at: datetime
    erase_at: datetime


async def close_mine(
    deps: Deps, session: Session, password: str, context: RequestContext
) -> Closure:
    """Close the holder's account: step-up and the password; erased after the grace."""
    require_privileged(deps, session)
    async with deps.uow() as uow:
        account = await uow.accounts.get(session.account_id)
    if account is None:
        raise Unauthenticated()
    if not await deps.passwords.verify(account.password_hash, password):
        raise InvalidCredentials("The password is not right; type your current password.")
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await uow.accounts.get(session.account_id)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise AccountClosed()
        account.status = AccountStatus.CLOSED
        account.closed_at = now
        account.erase_at = now + deps.config.erasure.grace
        await uow.accounts.update(account)
        await uow.sessions.revoke_all(account.id, now)
        await activity.record(deps, uow, account.id, EventTag.ACCOUNT_CLOSED, context)
        await notify_contacts(
            deps,
            uow,
            account,
            "account_closed",
            {"erase_at": format_moment(account.erase_at, account.locale)},
        )
        await uow.commit()
    deps.outbox_wakeup()
    return Closure(account.id, now, account.erase_at)


async def cancel_closure(
    deps: Deps, uow: UnitOfWork, account: Account, context: RequestContext
) -> bool:
    """Inside a sign-in's transaction: a closed account signing in stays open, and its
    contacts are told. False when the account was not closed."""
    if account.status is not AccountStatus.CLOSED:
        return False
    if not await uow.personal_data.reopen(account.id):
        raise InvalidCredentials()  # erased at this very moment
    account.status = AccountStatus.ACTIVE
    account.closed_at = None
    account.erase_at = None
    await activity.record(deps, uow, account.id, EventTag.ACCOUNT_CLOSURE_CANCELED, context)
    await notify_contacts(deps, uow, account, "account_closure_canceled", {})
    return True


# -- erasure -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Erasure:
    account_id: str
    erased: bool  # False: it had been erased already, nothing was written
    erased_at: datetime | None = None
    rows: dict[str, int] = field(default_factory=dict)


def _spellings(held: HeldData) -> set[str]:
    """Every stored spelling of the person's contacts that is not a keyed hash yet."""
    values = {item.value for item in held.items if item.channel is not None}
    values |= {verification.destination for verification in held.verifications}
    values |= {message.destination for message in held.messages}
    return {value for value in values if value and not is_erased_value(value)}


async def _erase(
    deps: Deps, account_id: str, *, due_only: bool, by: str, api_key_name: str | None = None
) -> Erasure:
    now = deps.clock.now()
    async with deps.uow() as uow:
        # The claim is the transaction's first statement, a write: a concurrent erasure
        # (or a sign-in reopening the account) waits for it, then finds nothing to do.
        claimed = await uow.personal_data.claim_erasure(account_id, now, due_only=due_only)
        held = await uow.personal_data.held(account_id)
        if held is None:
            raise NotFound("No account with that id.")
        if not claimed:
            return Erasure(account_id, erased=False, erased_at=held.account.erased_at)
        values = _spellings(held)
        key = deps.codes.secret_for("erasure")
        shared = await uow.personal_data.held_by_others(account_id, values)
        plan = ErasurePlan(
            account_id=account_id,
            replacements={value: erased_value(key, value) for value in values},
            unshared=frozenset(values - shared),
            now=now,
        )
        rows = await uow.personal_data.erase(plan)
        # Anonymous by construction: no IP, no user agent, no detail naming anyone.
        await activity.record(
            deps,
            uow,
            account_id,
            EventTag.ACCOUNT_ERASED,
            RequestContext(),
            by=by,
            api_key_name=api_key_name,
        )
        await uow.commit()
    log.info("account.erased", account_id=account_id, by=by, rows=sum(rows.values()))
    return Erasure(account_id, erased=True, erased_at=now, rows=rows)


async def erase_account(
    deps: Deps, account_id: str, *, by: str, api_key_name: str | None = None
) -> Erasure:
    """An operator erases an account at once (open, closed or erased: idempotent)."""
    return await _erase(deps, account_id, due_only=False, by=by, api_key_name=api_key_name)


async def erase_due(deps: Deps) -> int:
    """The scheduled job: erase closed accounts whose grace period has ended."""
    async with deps.uow() as uow:
        due = await uow.personal_data.closed_due(deps.clock.now(), deps.config.erasure.batch)
    erased = 0
    for account_id in due:
        try:
            if (await _erase(deps, account_id, due_only=True, by="schedule")).erased:
                erased += 1
        except Exception:
            log.exception("account.erase_failed", account_id=account_id)
    return erased
