"""The Verify API for integrators: start, check, cancel, fetch. No response has a code."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, IPvAnyAddress

from secinfo.api import schemas
from secinfo.api.dependencies import ApiKeyDep, DepsDep
from secinfo.domain.contacts import Channel
from secinfo.services import verify_api

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
    started = await verify_api.start(
        deps,
        api_key,
        body.to,
        Channel(body.channel),
        body.locale,
        client_ip=str(body.client_ip) if body.client_ip else None,
    )
    return schemas.verification_out(started, deps.config.code_policy, deps.clock.now())


@router.post("/{verification_id}/check")
async def check(
    verification_id: str, body: schemas.CodeRequest, api_key: ApiKeyDep, deps: DepsDep
) -> schemas.CheckOut:
    outcome = await verify_api.check(deps, api_key, verification_id, body.code)
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
