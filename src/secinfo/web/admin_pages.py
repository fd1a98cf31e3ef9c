"""The operator pages under /admin: delivery log, blocked SMS prefixes, webhook
endpoints and their deliveries, API keys (and accounts).

Only an operator account (``secinfo operator create``) signed in through the normal
sign-in page sees them, and only within 10 minutes of a step-up; before that the step-up
page asks for a code and comes back here. Anyone else gets the ordinary "Page not
found": the pages do not reveal that they exist. Every action is a CSRF-protected form
post answered by a redirect with a fixed notice (redirect-after-post), except creating
an API key, whose answer shows the key once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from secinfo.domain.errors import (
    DomainError,
    NotAnOperator,
    NotFound,
    OperatorStepUpRequired,
)
from secinfo.domain.model import ApiKeyScope
from secinfo.http import get_deps
from secinfo.services import admin_accounts, api_keys, delivery_log, fraud, operators, webhooks
from secinfo.services.deps import Deps
from secinfo.services.operators import OperatorAccount
from secinfo.web import i18n
from secinfo.web.changes_pages import EVENT_TEXT
from secinfo.web.pages import Form, error_status, field, optional_session, redirect, render

router = APIRouter(prefix="/admin", include_in_schema=False)
log = structlog.get_logger("secinfo.admin_pages")

# Sections whose forms act on one thing with its own page (/admin/accounts/{id}).
_DETAIL_SECTIONS = ("accounts", "webhooks")
WEBHOOK_STATUSES = ("queued", "sending", "sent", "failed", "dead")  # as the admin API's filter


class OperatorStepUp(Exception):
    """An operator whose step-up is older than 10 minutes: the step-up page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_of(request: Request) -> str:
    """The page to come back to after a step-up: this page for a GET; for a form post,
    the page the form is on (``/admin/outbox/msg_…/retry`` -> ``/admin/outbox``)."""
    path = request.url.path
    if request.method == "GET":
        return f"{path}?{request.url.query}" if request.url.query else path
    parts = path.split("/")  # ['', 'admin', section, id, action…]
    if len(parts) > 3 and parts[2] in _DETAIL_SECTIONS:
        return "/".join(parts[:4])
    return "/".join(parts[:3])


async def operator_gate(request: Request) -> OperatorAccount:
    """The operator, or "Page not found" for everyone else (signed out included)."""
    session = await optional_session(request)
    if session is None:
        raise StarletteHTTPException(404)
    try:
        operator = await operators.operator_for(get_deps(request), session)
    except NotAnOperator:
        raise StarletteHTTPException(404) from None
    except OperatorStepUpRequired:
        raise OperatorStepUp(page_of(request)) from None
    request.state.operator_session = session
    i18n.english_only(request)  # the operator pages are not translated
    return operator


OperatorDep = Annotated[OperatorAccount, Depends(operator_gate)]


async def _page(
    request: Request, template: str, operator: OperatorAccount, **context: Any
) -> Response:
    return await render(
        request,
        template,
        session=request.state.operator_session,
        operator=operator,
        wide=True,
        **context,
    )


def _done(path: str, notice: str) -> Response:
    return redirect(f"{path}?notice={notice}")


def _logged(operator: OperatorAccount, action: str, **target: str) -> None:
    log.info("admin.action", action=action, operator=operator.account_id, **target)


# -- overview --------------------------------------------------------------------------------
@router.get("")
async def overview(request: Request, operator: OperatorDep) -> Response:
    deps = get_deps(request)
    return await _page(
        request,
        "admin/overview.html",
        operator,
        title="Operator pages",
        counts=await delivery_log.counts(deps),
        blocked=len(await fraud.blocked(deps)),
    )


# -- accounts ----------------------------------------------------------------------------------
@router.get("/accounts")
async def accounts(request: Request, operator: OperatorDep) -> Response:
    name = request.query_params.get("sign_in_name", "").strip()
    found: list[admin_accounts.AdminAccountSummary] = []
    error: DomainError | None = None
    if name:
        try:
            found = await admin_accounts.search(get_deps(request), name)
        except DomainError as refused:
            error = refused
    return await _page(
        request,
        "admin/accounts.html",
        operator,
        title="Accounts",
        sign_in_name=name,
        found=found,
        error=error,
        status=error_status(error) if error else 200,
    )


async def _account_page(
    request: Request,
    operator: OperatorAccount,
    account_id: str,
    error: DomainError | None = None,
) -> Response:
    try:
        account = await admin_accounts.view(get_deps(request), account_id)
    except NotFound:
        raise StarletteHTTPException(404) from None
    return await _page(
        request,
        "admin/account.html",
        operator,
        title=f"Account {account.id}",
        account=account,
        event_text=EVENT_TEXT,
        error=error,
        status=error_status(error) if error else 200,
    )


@router.get("/accounts/{account_id}")
async def account(request: Request, operator: OperatorDep, account_id: str) -> Response:
    return await _account_page(request, operator, account_id)


AccountAction = Callable[[Deps, str, admin_accounts.Operator, FormData], Awaitable[object]]

# The account page's forms: /admin/accounts/{id}/<path> -> the service call, what the log
# calls it, and the notice on the page afterwards.
ACCOUNT_ACTIONS: dict[str, tuple[AccountAction, str, str]] = {
    "lock": (
        lambda deps, account_id, by, form: admin_accounts.lock(
            deps, account_id, by, field(form, "reason") or None
        ),
        "account.lock",
        "admin_locked",
    ),
    "unlock": (
        lambda deps, account_id, by, _: admin_accounts.unlock(deps, account_id, by),
        "account.unlock",
        "admin_unlocked",
    ),
    "sessions/revoke": (
        lambda deps, account_id, by, _: admin_accounts.revoke_sessions(deps, account_id, by),
        "account.revoke_sessions",
        "admin_sessions_revoked",
    ),
    "pending-change/cancel": (
        lambda deps, account_id, by, _: admin_accounts.cancel_pending_change(deps, account_id, by),
        "account.cancel_pending_change",
        "admin_change_canceled",
    ),
    "password-reset": (
        lambda deps, account_id, by, _: admin_accounts.require_password_reset(deps, account_id, by),
        "account.require_password_reset",
        "admin_reset_required",
    ),
}


@router.post("/accounts/{account_id}/{action:path}")
async def account_action(
    request: Request, operator: OperatorDep, account_id: str, action: str, form: Form
) -> Response:
    """One action on an account, done as this operator account; its page again, with the
    notice (or with why it was refused)."""
    if action not in ACCOUNT_ACTIONS:
        raise StarletteHTTPException(404)
    run, logged_as, notice = ACCOUNT_ACTIONS[action]
    try:
        await run(get_deps(request), account_id, operators.acting(operator), form)
    except NotFound:
        raise StarletteHTTPException(404) from None
    except DomainError as error:
        return await _account_page(request, operator, account_id, error)
    _logged(operator, logged_as, account_id=account_id)
    return _done(f"/admin/accounts/{account_id}", notice)


# -- delivery log ------------------------------------------------------------------------------
async def _outbox_page(
    request: Request,
    operator: OperatorAccount,
    status: str,
    error: DomainError | None = None,
) -> Response:
    deps = get_deps(request)
    if status not in delivery_log.STATUSES:
        status = ""
    return await _page(
        request,
        "admin/outbox.html",
        operator,
        title="Delivery log",
        messages=await delivery_log.messages(deps, status or None),
        counts=await delivery_log.counts(deps),
        statuses=delivery_log.STATUSES,
        retryable=delivery_log.RETRYABLE,
        selected=status,
        error=error,
        status=error_status(error) if error else 200,
    )


@router.get("/outbox")
async def outbox(request: Request, operator: OperatorDep) -> Response:
    return await _outbox_page(request, operator, request.query_params.get("status", ""))


@router.post("/outbox/{message_id}/retry")
async def retry(request: Request, operator: OperatorDep, message_id: str, form: Form) -> Response:
    back = field(form, "status")
    try:
        await delivery_log.retry(get_deps(request), message_id)
    except DomainError as error:
        return await _outbox_page(request, operator, back, error)
    _logged(operator, "outbox.retry", message_id=message_id)
    query = f"status={back}&" if back in delivery_log.STATUSES else ""
    return redirect(f"/admin/outbox?{query}notice=admin_retried")


# -- blocked SMS prefixes ----------------------------------------------------------------------
async def _prefixes_page(request: Request, operator: OperatorAccount, **context: Any) -> Response:
    return await _page(
        request,
        "admin/prefixes.html",
        operator,
        title="Blocked SMS prefixes",
        blocks=await fraud.blocked(get_deps(request)),
        **context,
    )


@router.get("/prefixes")
async def prefixes(request: Request, operator: OperatorDep) -> Response:
    return await _prefixes_page(request, operator)


@router.post("/prefixes/unblock")
async def unblock(request: Request, operator: OperatorDep, form: Form) -> Response:
    prefix = field(form, "prefix")
    try:
        await fraud.unblock(get_deps(request), prefix)
    except DomainError as error:
        return await _prefixes_page(request, operator, error=error, status=error_status(error))
    _logged(operator, "prefix.unblock", prefix=prefix)
    return _done("/admin/prefixes", "admin_unblocked")


# -- webhooks ----------------------------------------------------------------------------------
@router.get("/webhooks")
async def webhook_endpoints(request: Request, operator: OperatorDep) -> Response:
    return await _page(
        request,
        "admin/webhooks.html",
        operator,
        title="Webhook endpoints",
        endpoints=await webhooks.list_endpoints(get_deps(request)),
    )


async def _endpoint_page(
    request: Request,
    operator: OperatorAccount,
    endpoint_id: str,
    shown: str,
    error: DomainError | None = None,
) -> Response:
    """One endpoint and its deliveries (``shown``: one status, or every one)."""
    deps = get_deps(request)
    try:
        endpoint = await webhooks.get(deps, endpoint_id)
    except NotFound:
        raise StarletteHTTPException(404) from None
    if shown not in WEBHOOK_STATUSES:
        shown = ""
    return await _page(
        request,
        "admin/webhook.html",
        operator,
        title=f"Webhook endpoint {endpoint.url}",
        endpoint=endpoint,
        deliveries=await webhooks.deliveries(deps, endpoint_id, 100, shown or None),
        statuses=WEBHOOK_STATUSES,
        retryable=delivery_log.RETRYABLE,
        selected=shown,
        error=error,
        status=error_status(error) if error else 200,
    )


@router.get("/webhooks/{endpoint_id}")
async def webhook_endpoint(request: Request, operator: OperatorDep, endpoint_id: str) -> Response:
    return await _endpoint_page(
        request, operator, endpoint_id, request.query_params.get("status", "")
    )


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, operator: OperatorDep, endpoint_id: str, delivery_id: str, form: Form
) -> Response:
    try:
        await webhooks.redeliver(get_deps(request), endpoint_id, delivery_id)
    except DomainError as error:
        return await _endpoint_page(request, operator, endpoint_id, "", error)
    _logged(operator, "webhook.redeliver", endpoint_id=endpoint_id, delivery_id=delivery_id)
    return _done(f"/admin/webhooks/{endpoint_id}", "admin_redelivered")


# -- API keys ----------------------------------------------------------------------------------
async def _keys_page(request: Request, operator: OperatorAccount, **context: Any) -> Response:
    return await _page(
        request,
        "admin/api_keys.html",
        operator,
        title="API keys",
        keys=await api_keys.list_keys(get_deps(request)),
        scopes=[scope.value for scope in ApiKeyScope],
        values=context.pop("values", {}),
        **context,
    )


@router.get("/api-keys")
async def keys(request: Request, operator: OperatorDep) -> Response:
    return await _keys_page(request, operator)


@router.post("/api-keys")
async def create_key(request: Request, operator: OperatorDep, form: Form) -> Response:
    name, scope = field(form, "name"), field(form, "scope")
    try:
        created = await api_keys.create(
            get_deps(request), name, ApiKeyScope(scope) if scope else ApiKeyScope.VERIFICATION
        )
    except ValueError:
        return await _keys_page(
            request,
            operator,
            error="Choose the key's scope: verification or admin.",
            status=422,
            values={"name": name},
        )
    except DomainError as error:
        return await _keys_page(
            request,
            operator,
            error=error,
            status=error_status(error),
            values={"name": name, "scope": scope},
        )
    _logged(operator, "api_key.create", api_key_id=created.api_key.id)
    # The one answer that is not a redirect: the key is shown here once, never again.
    return await _keys_page(request, operator, created=created)


@router.post("/api-keys/{api_key_id}/revoke")
async def revoke_key(
    request: Request, operator: OperatorDep, api_key_id: str, form: Form
) -> Response:
    try:
        await api_keys.revoke(get_deps(request), api_key_id)
    except DomainError as error:
        return await _keys_page(request, operator, error=error, status=error_status(error))
    _logged(operator, "api_key.revoke", api_key_id=api_key_id)
    return _done("/admin/api-keys", "admin_key_revoked")
