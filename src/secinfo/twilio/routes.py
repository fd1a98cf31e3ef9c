"""The Twilio Verify v2 resources: form-encoded in, Twilio's JSON out.

Each endpoint parses Twilio's parameters, calls one service (``verify_services``, which
sends verifications through the native Verify API's service) and renders Twilio's shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

import phonenumbers
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from secinfo.domain.errors import InvalidApiKey, InvalidInput
from secinfo.domain.verify_services import AttemptFilter, VerifyAccount, verification_id
from secinfo.http import get_app, get_deps
from secinfo.services import verify_services as services
from secinfo.twilio import schemas, shapes

router = APIRouter(prefix="/v2")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


# -- request helpers -----------------------------------------------------------------------


async def current_account(request: Request) -> VerifyAccount:
    """HTTP Basic ``AccountSid:AuthToken`` on every request."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    sid = token = None
    if scheme.lower() == "basic" and encoded:
        try:
            sid, _, token = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidApiKey() from None
    return await services.authenticate(get_deps(request), sid, token)


AccountDep = Annotated[VerifyAccount, Depends(current_account)]


class Params:
    """Twilio's form (or query) parameters, PascalCase, each read with its type."""

    def __init__(self, values: list[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        for name, value in values:
            self.values.setdefault(name, value)

    @classmethod
    async def form(cls, request: Request) -> Params:
        body = (await request.body()).decode("utf-8", "replace")
        return cls(parse_qsl(body, keep_blank_values=True))

    @classmethod
    def query(cls, request: Request) -> Params:
        return cls(list(request.query_params.multi_items()))

    def text(self, name: str, max_length: int = 320) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if len(value) > max_length:
            raise InvalidInput(f"{name} is longer than {max_length} characters.", parameter=name)
        return value

    def required(self, name: str, max_length: int = 320) -> str:
        value = self.text(name, max_length)
        if not value:
            raise InvalidInput(f"{name} is required.", parameter=name)
        return value

    def integer(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"{name} must be a whole number.", parameter=name) from None

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise InvalidInput(f"{name} must be true or false.", parameter=name)

    def json_object(self, name: str) -> dict[str, Any] | None:
        value = self.values.get(name)
        if not value:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise InvalidInput(f"{name} must be a JSON object.", parameter=name) from None
        if not isinstance(parsed, dict):
            raise InvalidInput(f"{name} must be a JSON object.", parameter=name)
        return parsed

    def moment(self, name: str) -> datetime | None:
        value = self.values.get(name)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{name} must be a date and time like 2026-01-31T12:00:00Z.", parameter=name
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def paging(self) -> tuple[int, int]:
        size = self.integer("PageSize") or DEFAULT_PAGE_SIZE
        number = self.integer("Page") or 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"PageSize must be from 1 to {MAX_PAGE_SIZE}.", parameter="PageSize")
        if number < 0:
            raise InvalidInput("Page must be 0 or more.", parameter="Page")
        return number, size


def base_url(request: Request) -> str:
    """Absolute urls from the public URL setting (``SECINFO_PUBLIC_URL``)."""
    return f"{get_app(request).settings.base_url}/twilio/v2"


def ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


# -- services ------------------------------------------------------------------------------


def _service_changes(params: Params) -> services.ServiceChanges:
    return services.ServiceChanges(
        friendly_name=params.text("FriendlyName", 64),
        code_length=params.integer("CodeLength"),
        lookup_enabled=params.boolean("LookupEnabled"),
        psd2_enabled=params.boolean("Psd2Enabled"),
        skip_sms_to_landlines=params.boolean("SkipSmsToLandlines"),
        dtmf_input_required=params.boolean("DtmfInputRequired"),
        tts_name=params.text("TtsName", 64),
        do_not_share_warning_enabled=params.boolean("DoNotShareWarningEnabled"),
        custom_code_enabled=params.boolean("CustomCodeEnabled"),
        default_template_sid=params.text("DefaultTemplateSid", 34),
    )


# The form fields a Service is created and updated with.
SERVICE_FIELDS = (
    "FriendlyName",
    "CodeLength",
    "LookupEnabled",
    "Psd2Enabled",
    "SkipSmsToLandlines",
    "DtmfInputRequired",
    "TtsName",
    "DoNotShareWarningEnabled",
    "CustomCodeEnabled",
    "DefaultTemplateSid",
)


@router.post(
    "/Services",
    status_code=201,
    summary="Create a Service",
    responses={201: {"model": schemas.ServiceOut}, **schemas.errors(400)},
    openapi_extra=schemas.form(*SERVICE_FIELDS, required=("FriendlyName",)),
)
async def create_service(request: Request, account: AccountDep) -> JSONResponse:
    params = await Params.form(request)
    created = await services.create_service(get_deps(request), account, _service_changes(params))
    return ok(shapes.service(base_url(request), created), 201)


@router.get(
    "/Services",
    summary="List Services (paged)",
    responses={200: {"model": schemas.ServicePage}, **schemas.errors(400)},
)
async def list_services(request: Request, account: AccountDep) -> JSONResponse:
    number, size = Params.query(request).paging()
    found = await services.list_services(get_deps(request), account, number, size)
    base = base_url(request)
    records = [shapes.service(base, item) for item in found.items]
    return ok(shapes.page(f"{base}/Services", "services", records, number, size, found.has_more))


@router.get(
    "/Services/{sid}",
    summary="Fetch a Service",
    responses={200: {"model": schemas.ServiceOut}, **schemas.errors(404)},
)
async def fetch_service(sid: str, request: Request, account: AccountDep) -> JSONResponse:
    found = await services.get_service(get_deps(request), account, sid)
    return ok(shapes.service(base_url(request), found))


@router.post(
    "/Services/{sid}",
    summary="Update a Service",
    responses={200: {"model": schemas.ServiceOut}, **schemas.errors(400, 404)},
    openapi_extra=schemas.form(*SERVICE_FIELDS),
)
async def update_service(sid: str, request: Request, account: AccountDep) -> JSONResponse:
    params = await Params.form(request)
    updated = await services.update_service(
        get_deps(request), account, sid, _service_changes(params)
    )
    return ok(shapes.service(base_url(request), updated))


@router.delete(
    "/Services/{sid}", status_code=204, summary="Delete a Service", responses=schemas.errors(404)
)
async def delete_service(sid: str, request: Request, account: AccountDep) -> Response:
    await services.delete_service(get_deps(request), account, sid)
    return Response(status_code=204)


# -- verifications -------------------------------------------------------------------------


@router.post(
    "/Services/{service_sid}/Verifications",
    status_code=201,
    summary="Start a Verification",
    responses={201: {"model": schemas.VerificationOut}, **schemas.errors(400, 403, 404, 429)},
    openapi_extra=schemas.form(
        "To",
        "Channel",
        "Locale",
        "CustomFriendlyName",
        "CustomMessage",
        "DeviceIp",
        "RateLimits",
        "Amount",
        "Payee",
        "ChannelConfiguration",
        required=("To", "Channel"),
    ),
)
async def create_verification(
    service_sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    rate_limits = params.json_object("RateLimits")
    params.json_object("ChannelConfiguration")  # accepted: must be JSON, not used
    amount = params.text("Amount", 64)
    payee = params.text("Payee", 64)
    started = await services.start_verification(
        get_deps(request),
        account,
        service_sid,
        services.StartRequest(
            to=params.required("To"),
            channel=params.required("Channel", 32),
            locale=_locale(params.text("Locale", 16)),
            custom_friendly_name=params.text("CustomFriendlyName", 64),
            device_ip=_device_ip(params.text("DeviceIp", 64)),
            rate_limits={str(key): str(value) for key, value in (rate_limits or {}).items()},
            amount=amount,
            payee=payee,
            custom_code=params.text("CustomCode", 32),
        ),
    )
    now = get_deps(request).clock.now()
    body = shapes.verification(
        base_url(request), started, account.sid, now, amount=amount, payee=payee
    )
    return ok(body, 201)


def _locale(value: str | None) -> str:
    if not value:
        return "en"
    cleaned = value.replace("_", "-")
    if not all(part.isalnum() for part in cleaned.split("-")):
        raise InvalidInput("Locale must be a language tag like en or pt-BR.", parameter="Locale")
    return cleaned


def _device_ip(value: str | None) -> str | None:
    if not value:
        return None
    import ipaddress

    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInput(
            "DeviceIp must be an IPv4 or IPv6 address.", parameter="DeviceIp"
        ) from None


@router.get(
    "/Services/{service_sid}/Verifications/{sid}",
    summary="Fetch a Verification",
    responses={200: {"model": schemas.VerificationOut}, **schemas.errors(404)},
)
async def fetch_verification(
    service_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    deps = get_deps(request)
    view = await services.fetch_verification(deps, account, service_sid, sid)
    return ok(
        shapes.verification(
            base_url(request),
            view.verification,
            account.sid,
            deps.clock.now(),
        )
    )


@router.post(
    "/Services/{service_sid}/Verifications/{sid}",
    summary="Update (cancel or approve)",
    responses={200: {"model": schemas.VerificationOut}, **schemas.errors(400, 404)},
    openapi_extra=schemas.form("Status", required=("Status",)),
)
async def update_verification(
    service_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    deps = get_deps(request)
    updated = await services.update_verification(
        deps, account, service_sid, sid, params.required("Status", 32)
    )
    return ok(shapes.verification(base_url(request), updated, account.sid, deps.clock.now()))


@router.post(
    "/Services/{service_sid}/VerificationCheck",
    summary="Check a code",
    responses={200: {"model": schemas.VerificationCheckOut}, **schemas.errors(400, 404, 429)},
    openapi_extra=schemas.form(
        "Code", "To", "VerificationSid", "Amount", "Payee", required=("Code",)
    ),
)
async def verification_check(
    service_sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    deps = get_deps(request)
    outcome = await services.check(
        deps,
        account,
        service_sid,
        params.required("Code", 32),
        to=params.text("To"),
        verification_sid=params.text("VerificationSid", 34),
    )
    return ok(
        shapes.verification_check(
            outcome.verification,
            account.sid,
            deps.clock.now(),
            amount=params.text("Amount", 64),
            payee=params.text("Payee", 64),
        )
    )


# -- rate limits and buckets ---------------------------------------------------------------


@router.post(
    "/Services/{service_sid}/RateLimits",
    status_code=201,
    summary="Create a Rate Limit",
    responses={201: {"model": schemas.RateLimitOut}, **schemas.errors(400, 404)},
    openapi_extra=schemas.form("UniqueName", "Description", required=("UniqueName",)),
)
async def create_rate_limit(
    service_sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    created = await services.create_rate_limit(
        get_deps(request),
        account,
        service_sid,
        params.required("UniqueName", 100),
        params.text("Description", 255),
    )
    return ok(shapes.rate_limit(base_url(request), created), 201)


@router.get(
    "/Services/{service_sid}/RateLimits",
    summary="List Rate Limits",
    responses={200: {"model": schemas.RateLimitPage}, **schemas.errors(400, 404)},
)
async def list_rate_limits(service_sid: str, request: Request, account: AccountDep) -> JSONResponse:
    number, size = Params.query(request).paging()
    found = await services.list_rate_limits(get_deps(request), account, service_sid, number, size)
    base = base_url(request)
    records = [shapes.rate_limit(base, item) for item in found.items]
    url = f"{base}/Services/{service_sid}/RateLimits"
    return ok(shapes.page(url, "rate_limits", records, number, size, found.has_more))


@router.get(
    "/Services/{service_sid}/RateLimits/{sid}",
    summary="Fetch a Rate Limit",
    responses={200: {"model": schemas.RateLimitOut}, **schemas.errors(404)},
)
async def fetch_rate_limit(
    service_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    found = await services.get_rate_limit(get_deps(request), account, service_sid, sid)
    return ok(shapes.rate_limit(base_url(request), found))


@router.post(
    "/Services/{service_sid}/RateLimits/{sid}",
    summary="Update a Rate Limit",
    responses={200: {"model": schemas.RateLimitOut}, **schemas.errors(404)},
    openapi_extra=schemas.form("Description"),
)
async def update_rate_limit(
    service_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    updated = await services.update_rate_limit(
        get_deps(request), account, service_sid, sid, params.text("Description", 255)
    )
    return ok(shapes.rate_limit(base_url(request), updated))


@router.delete(
    "/Services/{service_sid}/RateLimits/{sid}",
    status_code=204,
    summary="Delete a Rate Limit",
    responses=schemas.errors(404),
)
async def delete_rate_limit(
    service_sid: str, sid: str, request: Request, account: AccountDep
) -> Response:
    await services.delete_rate_limit(get_deps(request), account, service_sid, sid)
    return Response(status_code=204)


BUCKETS = "/Services/{service_sid}/RateLimits/{rate_limit_sid}/Buckets"


@router.post(
    BUCKETS,
    status_code=201,
    summary="Create a Bucket",
    responses={201: {"model": schemas.BucketOut}, **schemas.errors(400, 404)},
    openapi_extra=schemas.form("Max", "Interval", required=("Max", "Interval")),
)
async def create_bucket(
    service_sid: str, rate_limit_sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    created = await services.create_bucket(
        get_deps(request),
        account,
        service_sid,
        rate_limit_sid,
        params.integer("Max"),
        params.integer("Interval"),
    )
    return ok(shapes.bucket(base_url(request), created), 201)


@router.get(
    BUCKETS,
    summary="List Buckets",
    responses={200: {"model": schemas.BucketPage}, **schemas.errors(400, 404)},
)
async def list_buckets(
    service_sid: str, rate_limit_sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    number, size = Params.query(request).paging()
    found = await services.list_buckets(
        get_deps(request), account, service_sid, rate_limit_sid, number, size
    )
    base = base_url(request)
    records = [shapes.bucket(base, item) for item in found.items]
    url = f"{base}/Services/{service_sid}/RateLimits/{rate_limit_sid}/Buckets"
    return ok(shapes.page(url, "buckets", records, number, size, found.has_more))


@router.get(
    BUCKETS + "/{sid}",
    summary="Fetch a Bucket",
    responses={200: {"model": schemas.BucketOut}, **schemas.errors(404)},
)
async def fetch_bucket(
    service_sid: str, rate_limit_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    found = await services.get_bucket(get_deps(request), account, service_sid, rate_limit_sid, sid)
    return ok(shapes.bucket(base_url(request), found))


@router.post(
    BUCKETS + "/{sid}",
    summary="Update a Bucket",
    responses={200: {"model": schemas.BucketOut}, **schemas.errors(400, 404)},
    openapi_extra=schemas.form("Max", "Interval"),
)
async def update_bucket(
    service_sid: str, rate_limit_sid: str, sid: str, request: Request, account: AccountDep
) -> JSONResponse:
    params = await Params.form(request)
    updated = await services.update_bucket(
        get_deps(request),
        account,
        service_sid,
        rate_limit_sid,
        sid,
        params.integer("Max"),
        params.integer("Interval"),
    )
    return ok(shapes.bucket(base_url(request), updated))


@router.delete(
    BUCKETS + "/{sid}", status_code=204, summary="Delete a Bucket", responses=schemas.errors(404)
)
async def delete_bucket(
    service_sid: str, rate_limit_sid: str, sid: str, request: Request, account: AccountDep
) -> Response:
    await services.delete_bucket(get_deps(request), account, service_sid, rate_limit_sid, sid)
    return Response(status_code=204)


# -- attempts ------------------------------------------------------------------------------

FILTER_NAMES = (
    "DateCreatedAfter",
    "DateCreatedBefore",
    "Channel",
    "Country",
    "VerifyServiceSid",
    "VerificationSid",
    "Status",
    "DestinationPrefix",
)


def _attempt_filter(params: Params, account: VerifyAccount) -> AttemptFilter:
    channel = params.text("Channel", 16)
    if channel is not None:
        channel = channel.lower()
        if channel not in services.OFFERED_CHANNELS:
            raise InvalidInput(
                f"Channel '{channel}': attempts are by 'sms' or 'email'.", parameter="Channel"
            )
    calling_code = None
    country = params.text("Country", 2)
    if country:
        code = phonenumbers.country_code_for_region(country.upper())
        if not code:
            raise InvalidInput(
                "Country must be an ISO 3166-1 alpha-2 code like GB.", parameter="Country"
            )
        calling_code = f"+{code}"
    prefix = params.text("DestinationPrefix", 16)
    if prefix:
        digits = prefix.lstrip("+")
        if not digits.isdigit():
            raise InvalidInput("DestinationPrefix must be digits.", parameter="DestinationPrefix")
        calling_code = f"+{digits}"
    status = params.text("Status", 16)
    if status not in (None, "converted", "unconverted"):
        raise InvalidInput("Status is 'converted' or 'unconverted'.", parameter="Status")
    verification_sid = params.text("VerificationSid", 34)
    return AttemptFilter(
        account_sid=account.sid,
        created_after=params.moment("DateCreatedAfter"),
        created_before=params.moment("DateCreatedBefore"),
        channel=channel,
        calling_code=calling_code,
        service_sid=params.text("VerifyServiceSid", 34),
        verification_id=(verification_id(verification_sid) or "-") if verification_sid else None,
        converted=None if status is None else status == "converted",
    )


@router.get(
    "/Attempts",
    summary="List Verification Attempts",
    responses={200: {"model": schemas.AttemptPage}, **schemas.errors(400)},
)
async def list_attempts(request: Request, account: AccountDep) -> JSONResponse:
    params = Params.query(request)
    number, size = params.paging()
    found = await services.list_attempts(
        get_deps(request), _attempt_filter(params, account), number, size
    )
    base = base_url(request)
    records = [shapes.attempt(base, item, account.sid) for item in found.items]
    filters = {name: params.values[name] for name in FILTER_NAMES if params.values.get(name)}
    return ok(
        shapes.page(f"{base}/Attempts", "attempts", records, number, size, found.has_more, filters)
    )


@router.get(
    "/Attempts/Summary",
    summary="Summary of Verification Attempts",
    responses={200: {"model": schemas.AttemptsSummaryOut}, **schemas.errors(400)},
)
async def attempts_summary(request: Request, account: AccountDep) -> JSONResponse:
    params = Params.query(request)
    totals = await services.attempt_totals(get_deps(request), _attempt_filter(params, account))
    return ok(
        {
            "total_attempts": totals.attempts,
            "total_converted": totals.converted,
            "total_unconverted": totals.unconverted,
            "conversion_rate_percentage": totals.conversion_rate_percentage,
            "url": f"{base_url(request)}/Attempts/Summary",
        }
    )


@router.get(
    "/Attempts/{sid}",
    summary="Fetch a Verification Attempt",
    responses={200: {"model": schemas.AttemptOut}, **schemas.errors(404)},
)
async def fetch_attempt(sid: str, request: Request, account: AccountDep) -> JSONResponse:
    found = await services.get_attempt(get_deps(request), account, sid)
    return ok(shapes.attempt(base_url(request), found, account.sid))
