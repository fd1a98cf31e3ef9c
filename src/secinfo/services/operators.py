"""Operator accounts: which accounts may use the operator pages (/admin), and the gate
in front of those pages.

An operator is an ordinary, verified account that ``secinfo operator create`` marked.
The pages answer it only after a step-up within the last :data:`OPERATOR_STEP_UP`
(10 minutes), whatever the configured step-up window; anyone else gets "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from secinfo.domain.contacts import mask, normalize_contact
from secinfo.domain.errors import (
    AccountNotActive,
    InvalidInput,
    NotAnOperator,
    NoVerifiedAccount,
    OperatorStepUpRequired,
)
from secinfo.domain.events import EventTag
from secinfo.domain.model import AccountStatus, Session
from secinfo.ports import OperatorRecord, UnitOfWork
from secinfo.services import activity
from secinfo.services.admin_accounts import OPERATOR_CONTEXT, Operator
from secinfo.services.deps import Deps
from secinfo.services.messages import notify_contacts

OPERATOR_STEP_UP = timedelta(minutes=10)


@dataclass(frozen=True)
class OperatorAccount:
    account_id: str
    name: str  # the sign-in name, masked: how the operator is named in records
    since: datetime


def stepped_up_within(session: Session, now: datetime, window: timedelta) -> bool:
    """The session checked a code within :data:`OPERATOR_STEP_UP` (its privilege runs
    ``window`` from the check, so the check was at ``privileged_until - window``)."""
    if session.privileged_until is None or not session.is_privileged(now):
        return False
    return now - (session.privileged_until - window) < OPERATOR_STEP_UP


async def _named(uow: UnitOfWork, record: OperatorRecord) -> OperatorAccount:
    names = await uow.security_info.list_sign_in_names(record.account_id)
    shown = next(
        (mask(item.channel, item.value) for item in names if item.channel is not None),
        record.account_id,
    )
    return OperatorAccount(record.account_id, shown, record.created_at)


async def _account_by_name(uow: UnitOfWork, sign_in_name: str) -> str:
    raw = sign_in_name.strip()
    if not raw:
        raise InvalidInput("Name the account by its sign-in name (an email or phone number).")
    try:
        _, value = normalize_contact(raw)
    except InvalidInput:
        value = raw
    item = await uow.security_info.find_sign_in_name(value)
    if item is None:
        raise NoVerifiedAccount()
    account = await uow.accounts.get(item.account_id)
    if account is None:
        raise NoVerifiedAccount()
    if account.status is not AccountStatus.ACTIVE:
        raise AccountNotActive(
            f"That account is {account.status.value}, so it cannot be an operator; only an "
            "active account with a verified sign-in name can."
        )
    return account.id


async def _recorded(
    deps: Deps, uow: UnitOfWork, account_id: str, by: Operator, tag: EventTag, notice: str
) -> None:
    """Becoming (or no longer being) an operator is on the account's activity, with
    its webhooks, and every contact of the account is told."""
    await activity.record(deps, uow, account_id, tag, OPERATOR_CONTEXT, **by.details())
    account = await uow.accounts.get(account_id)
    if account is not None:
        await notify_contacts(deps, uow, account, notice, {})


async def create(
    deps: Deps, sign_in_name: str, by: Operator | None = None
) -> tuple[OperatorAccount, bool]:
    """Mark the verified, active account that signs in with ``sign_in_name`` as an
    operator; the flag says whether it was new (False: it was one already)."""
    async with deps.uow() as uow:
        account_id = await _account_by_name(uow, sign_in_name)
        added = await uow.operators.add(account_id, deps.clock.now())
        record = await uow.operators.get(account_id)
        assert record is not None
        operator = await _named(uow, record)
        if added:
            await _recorded(
                deps,
                uow,
                account_id,
                by or Operator.cli(),
                EventTag.OPERATOR_GRANTED,
                "operator_granted",
            )
        await uow.commit()
    deps.outbox_wakeup()
    return operator, added


async def remove(
    deps: Deps, sign_in_name_or_id: str, by: Operator | None = None
) -> OperatorAccount:
    """Take the operator pages away from an account (by sign-in name or account id)."""
    async with deps.uow() as uow:
        wanted = sign_in_name_or_id.strip()
        record = await uow.operators.get(wanted) if wanted.startswith("acc_") else None
        if record is None:
            try:
                record = await uow.operators.get(await _account_by_name(uow, wanted))
            except (NoVerifiedAccount, AccountNotActive):
                record = None
        if record is None:
            raise NotAnOperator(
                f"{wanted!r} is not an operator; 'secinfo operator list' shows who is."
                if wanted.startswith("acc_")
                else "That account is not an operator; 'secinfo operator list' shows who is."
            )
        operator = await _named(uow, record)
        await uow.operators.remove(record.account_id)
        await _recorded(
            deps,
            uow,
            record.account_id,
            by or Operator.cli(),
            EventTag.OPERATOR_REVOKED,
            "operator_revoked",
        )
        await uow.commit()
    deps.outbox_wakeup()
    return operator


async def list_operators(deps: Deps) -> list[OperatorAccount]:
    async with deps.uow() as uow:
        return [await _named(uow, record) for record in await uow.operators.list()]


async def is_operator(deps: Deps, account_id: str) -> bool:
    async with deps.uow() as uow:
        return await uow.operators.get(account_id) is not None


async def operator_for(deps: Deps, session: Session) -> OperatorAccount:
    """The operator behind ``session``, if the operator pages may answer it now.

    Not an operator (or no longer an active account): :class:`NotAnOperator`. An
    operator without a step-up in the last 10 minutes: :class:`OperatorStepUpRequired`.
    """
    async with deps.uow() as uow:
        record = await uow.operators.get(session.account_id)
        account = await uow.accounts.get(session.account_id)
        if record is None or account is None or account.status is not AccountStatus.ACTIVE:
            raise NotAnOperator()
        operator = await _named(uow, record)
    if not stepped_up_within(session, deps.clock.now(), deps.config.step_up_window):
        raise OperatorStepUpRequired()
    return operator


def acting(operator: OperatorAccount) -> Operator:
    """How an operator account is named in what it does (events, the lock's ``by``)."""
    return Operator("operator_account", operator.account_id, operator.name)
