"""The admin API's accounts: ``/v1/admin/accounts`` (admin-scoped API keys).

Find an account by a sign-in name, view it (contacts masked only), lock and unlock it,
end its sessions, cancel its pending change, require a new password. Each action is
recorded in the account's activity with the key's name, and sent to the webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from secinfo.api import schemas
from secinfo.api.dependencies import AdminKeyDep, DepsDep
from secinfo.domain.model import MAX_LOCK_REASON_LENGTH
from secinfo.services import admin_accounts
from secinfo.services.admin_accounts import (
    AdminAccountSummary,
    AdminAccountView,
    MaskedInfo,
    Operator,
)

_DESCRIBED = {
    401: "No valid API key (invalid_api_key).",
    403: "A key without the admin scope (forbidden_scope).",
    404: "No account with that id (account_not_found).",
    422: "Invalid input: the error names the field and what to do.",
}


def _errors(*extra: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """The statuses an endpoint answers besides 200; the body is the one error schema,
    added to every error status by api/openapi.py."""
    described = dict(_DESCRIBED)
    for status, text in extra:
        described[status] = text
    return {status: {"description": text} for status, text in described.items()}


ERASED = (409, "The account's personal data was erased: nothing to act on (account_erased).")

router = APIRouter(
    prefix="/v1/admin/accounts",
    tags=["admin: accounts"],
    responses={status: {"description": _DESCRIBED[status]} for status in (401, 403)},
)


class SecurityInfoOut(BaseModel):
    id: str
    kind: str
    masked: str = Field(..., description="A contact masked (never its value); else the kind.")
    label: str | None
    state: str
    sign_in_name: bool
    added_at: datetime
    verified_at: datetime | None
    last_used_at: datetime | None


class LockOut(BaseModel):
    locked_at: datetime
    reason: str | None = Field(None, description="The operator's note; never sent to the holder.")
    locked_by: str | None = Field(None, description="The API key's name (or the operator's).")


class PendingChangeOut(BaseModel):
    id: str
    kind: str
    created_at: datetime
    ends_at: datetime = Field(..., description="When the waiting period ends.")


class AccountSummaryOut(BaseModel):
    id: str
    status: str = Field(..., examples=["active"])
    locked: bool
    sign_in_names: list[str] = Field(..., description="Masked.")
    created_at: datetime
    last_sign_in_at: datetime | None


class AccountSearchOut(BaseModel):
    accounts: list[AccountSummaryOut] = Field(
        ..., description="The account a sign-in with this name reaches; empty when none."
    )


class AccountOut(BaseModel):
    id: str
    status: str = Field(..., description="pending, active, closed (waiting for erasure) or erased.")
    locked: bool
    lock: LockOut | None
    locale: str
    created_at: datetime
    last_sign_in_at: datetime | None
    password_changed_at: datetime | None
    two_step_enabled: bool
    password_reset_required: bool
    sign_in_names: list[SecurityInfoOut]
    security_info: list[SecurityInfoOut] = Field(..., description="Not removed; masked.")
    pending_change: PendingChangeOut | None
    live_sessions: int
    closed_at: datetime | None
    erase_at: datetime | None
    recent_activity: list[schemas.ActivityOut] = Field(..., description="Newest first.")


class LockRequest(schemas.Body):
    reason: str | None = Field(
        None,
        max_length=MAX_LOCK_REASON_LENGTH,
        description="Why (for operators; shown in the account's view, not to the holder).",
    )


class SessionsRevokedOut(BaseModel):
    account_id: str
    sessions_revoked: int = Field(..., description="How many sessions were ended.")


def _info_out(item: MaskedInfo) -> SecurityInfoOut:
    return SecurityInfoOut(
        id=item.id,
        kind=item.kind.value,
        masked=item.masked,
        label=item.label,
        state=item.state.value,
        sign_in_name=item.sign_in,
        added_at=item.added_at,
        verified_at=item.verified_at,
        last_used_at=item.last_used_at,
    )


def summary_out(summary: AdminAccountSummary) -> AccountSummaryOut:
    return AccountSummaryOut(
        id=summary.id,
        status=summary.status.value,
        locked=summary.locked,
        sign_in_names=summary.sign_in_names,
        created_at=summary.created_at,
        last_sign_in_at=summary.last_sign_in_at,
    )


def account_out(view: AdminAccountView) -> AccountOut:
    lock = view.lock
    change = view.pending_change
    return AccountOut(
        id=view.id,
        status=view.status.value,
        locked=view.locked,
        lock=LockOut(locked_at=lock.locked_at, reason=lock.reason, locked_by=lock.by)
        if lock
        else None,
        locale=view.locale,
        created_at=view.created_at,
        last_sign_in_at=view.last_sign_in_at,
        password_changed_at=view.password_changed_at,
        two_step_enabled=view.two_step_enabled,
        password_reset_required=view.password_reset_required,
        sign_in_names=[_info_out(item) for item in view.sign_in_names],
        security_info=[_info_out(item) for item in view.security_info],
        pending_change=PendingChangeOut(
            id=change.id,
            kind=change.kind.value,
            created_at=change.created_at,
            ends_at=change.ends_at,
        )
        if change
        else None,
        live_sessions=view.live_sessions,
        closed_at=view.closed_at,
        erase_at=view.erase_at,
        recent_activity=[schemas.activity_out(event) for event in view.recent_activity],
    )


@router.get("", responses=_errors())
async def search_accounts(
    key: AdminKeyDep,
    deps: DepsDep,
    sign_in_name: str = Query(
        ...,
        max_length=320,
        description="An email or phone number, matched exactly as sign-in matches it (the "
        "email's case and a phone's spaces do not matter).",
    ),
) -> AccountSearchOut:
    """Find the account a sign-in name belongs to."""
    found = await admin_accounts.search(deps, sign_in_name)
    return AccountSearchOut(accounts=[summary_out(summary) for summary in found])


@router.get("/{account_id}", responses=_errors())
async def view_account(account_id: str, key: AdminKeyDep, deps: DepsDep) -> AccountOut:
    """Status, sign-in names and security info (masked), 2-step, the pending change, the
    last sign-in and recent activity."""
    return account_out(await admin_accounts.view(deps, account_id))


@router.post(
    "/{account_id}/lock",
    responses=_errors(
        (409, "Already locked (account_already_locked), or erased (account_erased)."),
    ),
)
async def lock_account(
    account_id: str, key: AdminKeyDep, deps: DepsDep, body: LockRequest | None = None
) -> AccountOut:
    """Lock: no sign-in by password, passkey or recovery until unlocked (they are refused
    with 403 account_locked); every session ends; every verified contact is told."""
    view = await admin_accounts.lock(
        deps, account_id, Operator.from_api_key(key), body.reason if body else None
    )
    return account_out(view)


@router.post(
    "/{account_id}/unlock",
    responses=_errors(
        (409, "Not locked (account_not_locked), or erased (account_erased)."),
    ),
)
async def unlock_account(account_id: str, key: AdminKeyDep, deps: DepsDep) -> AccountOut:
    """Unlock: sign-in works again; every verified contact is told."""
    return account_out(await admin_accounts.unlock(deps, account_id, Operator.from_api_key(key)))


@router.post("/{account_id}/sessions/revoke", responses=_errors(ERASED))
async def revoke_sessions(account_id: str, key: AdminKeyDep, deps: DepsDep) -> SessionsRevokedOut:
    """End every session of the account; the holder is told and signs in again."""
    count = await admin_accounts.revoke_sessions(deps, account_id, Operator.from_api_key(key))
    return SessionsRevokedOut(account_id=account_id, sessions_revoked=count)


@router.post(
    "/{account_id}/pending-change/cancel",
    responses=_errors(
        (409, "No pending change (no_pending_change), or erased (account_erased)."),
    ),
)
async def cancel_pending_change(account_id: str, key: AdminKeyDep, deps: DepsDep) -> AccountOut:
    """Cancel the pending security-info change as its holder would: the waiting period
    ends, the items come back, every contact is told."""
    view = await admin_accounts.cancel_pending_change(deps, account_id, Operator.from_api_key(key))
    return account_out(view)


@router.post(
    "/{account_id}/require-password-reset",
    responses=_errors(
        (
            409,
            "A new password is required already (password_reset_already_required), or "
            "erased (account_erased).",
        ),
    ),
)
async def require_password_reset(account_id: str, key: AdminKeyDep, deps: DepsDep) -> AccountOut:
    """The next sign-in must reset the password with 'forgot password' (sign-in answers
    403 password_reset_required); every session ends; the holder is told."""
    view = await admin_accounts.require_password_reset(deps, account_id, Operator.from_api_key(key))
    return account_out(view)
