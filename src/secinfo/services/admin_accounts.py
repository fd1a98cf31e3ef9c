"""Operators' actions on accounts: find, view, lock and unlock, end sessions, cancel a
pending change, require a new password.

The front ends (the admin API with an admin-scoped key, the CLI, the operator pages)
are thin; the rules are here. Every action is one transaction that also records an
activity event naming the operator (``by``, ``operator_kind``, ``operator_id``,
``operator_name``) and so queues its webhooks; the holder is told by a notice to every
verified contact. A view shows contacts masked only.

A lock stops every way in: password, passkey and recovery sign-ins are refused with
``account_locked`` once the password (or the passkey, or the recovery's proofs) was
right, so it tells no more than a sign-in already does. Its sessions end at the lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from secinfo.domain.contacts import normalize_contact
from secinfo.domain.errors import (
    AccountErased,
    AccountNotFound,
    AlreadyLocked,
    NoPendingChange,
    NotLocked,
    PasswordResetAlreadyRequired,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import (
    Account,
    AccountStatus,
    ActivityEvent,
    ApiKey,
    ChangeKind,
    InfoKind,
    InfoState,
    RequestContext,
    SecurityInfo,
    clean_lock_reason,
)
from secinfo.ports import UnitOfWork
from secinfo.services import activity, pending_changes
from secinfo.services.deps import Deps
from secinfo.services.messages import notify_contacts

OperatorKind = Literal["api_key", "operator_account", "cli"]
# How each kind of operator is named in ``by``, the word data-rights events use too.
_BY = {"api_key": "admin_api", "operator_account": "operator_page", "cli": "cli"}
RECENT_ACTIVITY = 20
# An operator acts from no request of the holder's: no IP or device on the event.
OPERATOR_CONTEXT = RequestContext()


@dataclass(frozen=True)
class Operator:
    """Who acts: an admin API key, an operator account (the pages), or the CLI."""

    kind: OperatorKind
    id: str
    name: str  # the API key's name, the operator account's masked sign-in name, or "cli"

    @classmethod
    def from_api_key(cls, key: ApiKey) -> Operator:
        return cls("api_key", key.id, key.name)

    @classmethod
    def cli(cls, name: str = "cli") -> Operator:
        return cls("cli", "cli", name)

    @property
    def by(self) -> str:
        return _BY[self.kind]

    def details(self) -> dict[str, Any]:
        """What an activity event (and its webhook) says about the operator."""
        return {
            "by": self.by,
            "operator_kind": self.kind,
            "operator_id": self.id,
            "operator_name": self.name,
            "api_key_name": self.name if self.kind == "api_key" else None,
        }


@dataclass(frozen=True)
class MaskedInfo:
    """One security info item as an operator sees it: a contact masked, never its value."""

    id: str
    kind: InfoKind
    masked: str
    state: InfoState
    sign_in: bool
    added_at: datetime
    label: str | None = None
    verified_at: datetime | None = None
    last_used_at: datetime | None = None

    @classmethod
    def of(cls, item: SecurityInfo) -> MaskedInfo:
        return cls(
            id=item.id,
            kind=item.kind,
            masked=item.masked,
            state=item.state,
            sign_in=item.sign_in,
            added_at=item.added_at,
            label=item.label,
            verified_at=item.verified_at,
            last_used_at=item.last_used_at,
        )


@dataclass(frozen=True)
class LockState:
    locked_at: datetime
    reason: str | None
    by: str | None


@dataclass(frozen=True)
class PendingChangeSummary:
    id: str
    kind: ChangeKind
    created_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class AdminAccountSummary:
    """A search hit."""

    id: str
    status: AccountStatus
    locked: bool
    sign_in_names: list[str]  # masked
    created_at: datetime
    last_sign_in_at: datetime | None


@dataclass(frozen=True)
class AdminAccountView:
    id: str
    status: AccountStatus
    locale: str
    created_at: datetime
    last_sign_in_at: datetime | None
    password_changed_at: datetime | None
    two_step_enabled: bool
    password_reset_required: bool
    lock: LockState | None
    sign_in_names: list[MaskedInfo]
    security_info: list[MaskedInfo]  # not removed
    pending_change: PendingChangeSummary | None
    live_sessions: int
    recent_activity: list[ActivityEvent] = field(default_factory=list)  # newest first
    closed_at: datetime | None = None
    erase_at: datetime | None = None

    @property
    def locked(self) -> bool:
        return self.lock is not None


def _sign_in_names(items: list[SecurityInfo]) -> list[SecurityInfo]:
    return [
        item
        for item in items
        if item.sign_in and item.channel is not None and item.state is not InfoState.REMOVED
    ]


async def search(deps: Deps, sign_in_name: str) -> list[AdminAccountSummary]:
    """The account a sign-in with this name would reach, normalised the same way (case
    of an email, spaces and dashes in a phone number); [] when there is none. A name
    that is neither an email address nor a phone number raises the sign-in's own
    ``InvalidInput`` (``invalid_email``, ``invalid_phone``, ``invalid_sign_in_name``)."""
    _, value = normalize_contact(sign_in_name)
    async with deps.uow() as uow:
        account_id = await uow.security_info.find_sign_in_account(value)
        account = await uow.accounts.get(account_id) if account_id else None
        if account is None:
            return []
        items = await uow.security_info.list_for_account(account.id)
    return [
        AdminAccountSummary(
            id=account.id,
            status=account.status,
            locked=account.locked,
            sign_in_names=[item.masked for item in _sign_in_names(items)],
            created_at=account.created_at,
            last_sign_in_at=account.last_sign_in_at,
        )
    ]


async def _view(deps: Deps, uow: UnitOfWork, account: Account) -> AdminAccountView:
    items = await uow.security_info.list_for_account(account.id)
    change = await uow.pending_changes.pending_for_account(account.id)
    events = await uow.activity.list_for_account(account.id, RECENT_ACTIVITY, None)
    live = await uow.sessions.count_live(account.id, deps.clock.now())
    lock = (
        LockState(account.locked_at, account.locked_reason, account.locked_by)
        if account.locked_at is not None
        else None
    )
    return AdminAccountView(
        id=account.id,
        status=account.status,
        locale=account.locale,
        created_at=account.created_at,
        last_sign_in_at=account.last_sign_in_at,
        password_changed_at=account.password_changed_at,
        two_step_enabled=account.two_step_enabled,
        password_reset_required=account.password_reset_required,
        lock=lock,
        sign_in_names=[MaskedInfo.of(item) for item in _sign_in_names(items)],
        security_info=[
            MaskedInfo.of(item) for item in items if item.state is not InfoState.REMOVED
        ],
        pending_change=(
            PendingChangeSummary(change.id, change.kind, change.created_at, change.ends_at)
            if change is not None
            else None
        ),
        live_sessions=live,
        recent_activity=events,
        closed_at=account.closed_at,
        erase_at=account.erase_at,
    )


async def _account(uow: UnitOfWork, account_id: str) -> Account:
    account = await uow.accounts.get(account_id)
    if account is None:
        raise AccountNotFound()
    return account


async def _actionable(uow: UnitOfWork, account_id: str) -> Account:
    """An account an operator can act on: one whose personal data is still there."""
    account = await _account(uow, account_id)
    if account.status is AccountStatus.ERASED:
        raise AccountErased()
    return account


async def view(deps: Deps, account_id: str) -> AdminAccountView:
    """Status, sign-in names and security info (masked), 2-step, the pending change, the
    last sign-in and recent activity; :class:`AccountNotFound` for an unknown id."""
    async with deps.uow() as uow:
        return await _view(deps, uow, await _account(uow, account_id))


async def _done(
    deps: Deps,
    uow: UnitOfWork,
    account: Account,
    operator: Operator,
    tag: EventTag,
    notice: str,
    *,
    notice_context: dict[str, object] | None = None,
    **details: Any,
) -> AdminAccountView:
    """The end of every action: its event (naming the operator, queuing its webhooks),
    the notice to the holder, the commit; returns the account as it is now."""
    await activity.record(
        deps, uow, account.id, tag, OPERATOR_CONTEXT, **operator.details(), **details
    )
    await notify_contacts(deps, uow, account, notice, notice_context or {})
    result = await _view(deps, uow, await _account(uow, account.id))
    await uow.commit()
    deps.outbox_wakeup()
    return result


async def lock(
    deps: Deps, account_id: str, operator: Operator, reason: str | None = None
) -> AdminAccountView:
    """Lock: no sign-in of any kind until unlocked; every session ends; the holder is
    told (the reason is the operator's note and is not sent)."""
    reason = clean_lock_reason(reason)
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await _actionable(uow, account_id)
        # The conditional write first: a sign-in finishing at this moment either opened
        # its session before (and the revocation below ends it) or sees the lock.
        if not await uow.accounts.lock(account.id, now, reason, operator.name):
            raise AlreadyLocked()
        revoked = await uow.sessions.revoke_all(account.id, now)
        return await _done(
            deps,
            uow,
            account,
            operator,
            EventTag.ACCOUNT_LOCKED,
            "account_locked",
            sessions=revoked,
        )


async def unlock(deps: Deps, account_id: str, operator: Operator) -> AdminAccountView:
    """Unlock: sign-in works again; the holder is told."""
    async with deps.uow() as uow:
        account = await _actionable(uow, account_id)
        if not await uow.accounts.unlock(account.id):
            raise NotLocked()
        return await _done(
            deps, uow, account, operator, EventTag.ACCOUNT_UNLOCKED, "account_unlocked"
        )


async def revoke_sessions(deps: Deps, account_id: str, operator: Operator) -> int:
    """End every session of the account (the holder signs in again); how many ended."""
    async with deps.uow() as uow:
        account = await _actionable(uow, account_id)
        revoked = await uow.sessions.revoke_all(account.id, deps.clock.now())
        await _done(
            deps,
            uow,
            account,
            operator,
            EventTag.SESSIONS_REVOKED,
            "sessions_revoked",
            sessions=revoked,
        )
    return revoked


async def cancel_pending_change(
    deps: Deps, account_id: str, operator: Operator
) -> AdminAccountView:
    """Cancel the account's pending change as the holder's cancel does: its items come
    back, the waiting period ends and every contact is told."""
    async with deps.uow() as uow:
        account = await _actionable(uow, account_id)
        change = await uow.pending_changes.pending_for_account(account.id)
        if change is None:
            raise NoPendingChange("This account has no pending security-info change.")
        await pending_changes.cancel_change(
            deps, uow, change, OPERATOR_CONTEXT, not_me=False, by=operator.details()
        )
        result = await _view(deps, uow, await _account(uow, account.id))
        await uow.commit()
    deps.outbox_wakeup()
    return result


async def require_password_reset(
    deps: Deps, account_id: str, operator: Operator
) -> AdminAccountView:
    """The next sign-in must reset the password through recovery ('forgot password');
    every session ends now; the holder is told."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        account = await _actionable(uow, account_id)
        if account.password_reset_required:
            raise PasswordResetAlreadyRequired()
        account.password_reset_required = True
        await uow.accounts.update(account)
        revoked = await uow.sessions.revoke_all(account.id, now)
        return await _done(
            deps,
            uow,
            account,
            operator,
            EventTag.PASSWORD_RESET_REQUIRED,
            "password_reset_required",
            notice_context={"recovery_url": f"{deps.config.public_url}/forgot-password"},
            sessions=revoked,
        )
