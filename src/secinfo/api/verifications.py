"""The Verify API for integrators: start, check, cancel, fetch. No response has a code."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, IPvAnyAddress

from secinfo.api import schemas
from secinfo.api.dependencies import ApiKeyDep, DepsDep
from secinfo.domain.contacts import Channel
from secinfo.domain.model import ApiKey
from secinfo.services import verify_api
from secinfo.services.deps import Deps

router = APIRouter(prefix="/v1/verifications", tags=["verify"])


class StartRequest(schemas.Body):
    to: str = Field(..., max_length=320, description="E.164 phone or email address.")
    channel: Literal["sms", "email"]
    locale: str = Field("en", max_length=16, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
    client_ip: IPvAnyAddress | None = Field(
        None,
        description="The end user's IP address, for per-client limits (your server's own "
        "address is never counted as one user).",
    )


@router.post("", status_code=201)
async def start(body: StartRequest, api_key: ApiKeyDep, deps: DepsDep) -> schemas.VerificationOut:
    """Send a code to ``to``. Again for the same ``to`` while pending: a resend, same id."""
    return await started(
        deps,
        api_key,
        body.to,
        body.channel,
        body.locale,
        str(body.client_ip) if body.client_ip else None,
    )


@router.post("/{verification_id}/check")
async def check(
    verification_id: str, body: schemas.CodeRequest, api_key: ApiKeyDep, deps: DepsDep
) -> schemas.CheckOut:
    return await checked(deps, api_key, verification_id, body.code)


# What the two hot calls answer, shared with their fast path (``api/fast_verify.py``),
# which must answer exactly alike.
async def started(
    deps: Deps, api_key: ApiKey, to: str, channel: str, locale: str, client_ip: str | None
) -> schemas.VerificationOut:
    verification = await verify_api.start(
        deps, api_key, to, Channel(channel), locale, client_ip=client_ip
    )
    return schemas.verification_out(verification, deps.config.code_policy, deps.clock.now())


async def checked(deps: Deps, api_key: ApiKey, verification_id: str, code: str) -> schemas.CheckOut:
    outcome = await verify_api.check(deps, api_key, verification_id, code)
    return schemas.CheckOut(
        id=outcome.verification.id,
        status=outcome.verification.current_status(deps.clock.now()).value,
        valid=outcome.valid,
        attempts_left=outcome.attempts_left,
    )


@router.post("/{verification_id}/cancel")
async def cancel(
    verification_id: str, api_key: ApiKeyDep, deps: DepsDep
) -> schemas.VerificationOut:
    canceled = await verify_api.cancel(deps, api_key, verification_id)
    return schemas.verification_out(canceled, deps.config.code_policy, deps.clock.now())


@router.get("/{verification_id}")
async def fetch(verification_id: str, api_key: ApiKeyDep, deps: DepsDep) -> schemas.VerificationOut:
    view = await verify_api.fetch(deps, api_key, verification_id)
    return schemas.verification_out(
        view.verification, deps.config.code_policy, deps.clock.now(), view.delivery_status
    )
