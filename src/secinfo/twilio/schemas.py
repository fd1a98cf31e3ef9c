"""Twilio's shapes as models, for the OpenAPI description only (``/twilio/openapi.json``).

Responses are built as plain dicts in ``shapes`` (the hot path skips validation); these
models say the same fields and types for readers and generators of the description.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TwilioError(BaseModel):
    code: int = Field(description="Twilio's error code, e.g. 60200, 20404, 60202.")
    message: str
    more_info: str = Field(description="https://www.twilio.com/docs/errors/<code>")
    status: int


class Meta(BaseModel):
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str


class ServiceOut(BaseModel):
    sid: str
    account_sid: str
    friendly_name: str
    code_length: int
    lookup_enabled: bool
    psd2_enabled: bool
    skip_sms_to_landlines: bool
    dtmf_input_required: bool
    tts_name: str | None
    do_not_share_warning_enabled: bool
    custom_code_enabled: bool
    push: dict[str, Any]
    totp: dict[str, Any]
    whatsapp: dict[str, Any]
    passkeys: dict[str, Any] | None
    default_template_sid: str | None
    verify_event_subscription_enabled: bool
    date_created: str
    date_updated: str
    url: str
    links: dict[str, str]


class ServicePage(BaseModel):
    services: list[ServiceOut]
    meta: Meta


class SendCodeAttempt(BaseModel):
    attempt_sid: str
    channel: str
    time: str


class VerificationOut(BaseModel):
    sid: str
    service_sid: str
    account_sid: str
    to: str = Field(description="Masked: the last two digits, or the email's first two.")
    channel: str
    status: str = Field(description="pending, approved, canceled, max_attempts_reached, expired")
    valid: bool
    lookup: dict[str, Any]
    amount: str | None
    payee: str | None
    send_code_attempts: list[SendCodeAttempt]
    date_created: str
    date_updated: str
    sna: dict[str, Any] | None
    url: str


class VerificationCheckOut(BaseModel):
    sid: str
    service_sid: str
    account_sid: str
    to: str
    channel: str
    status: str
    valid: bool
    amount: str | None
    payee: str | None
    date_created: str
    date_updated: str
    sna_attempts_error_codes: list[Any]


class RateLimitOut(BaseModel):
    sid: str
    service_sid: str
    account_sid: str
    unique_name: str
    description: str | None
    date_created: str
    date_updated: str
    url: str
    links: dict[str, str]


class RateLimitPage(BaseModel):
    rate_limits: list[RateLimitOut]
    meta: Meta


class BucketOut(BaseModel):
    sid: str
    rate_limit_sid: str
    service_sid: str
    account_sid: str
    max: int
    interval: int
    date_created: str
    date_updated: str
    url: str


class BucketPage(BaseModel):
    buckets: list[BucketOut]
    meta: Meta


class AttemptOut(BaseModel):
    sid: str
    account_sid: str
    service_sid: str
    verification_sid: str
    date_created: str
    date_updated: str
    conversion_status: str = Field(description="converted or unconverted")
    channel: str
    price: dict[str, Any]
    channel_data: dict[str, Any]
    url: str


class AttemptPage(BaseModel):
    attempts: list[AttemptOut]
    meta: Meta


class AttemptsSummaryOut(BaseModel):
    total_attempts: int
    total_converted: int
    total_unconverted: int
    conversion_rate_percentage: str
    url: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for the description: 401 (20003) always, plus the given ones."""
    described: dict[int | str, dict[str, Any]] = {
        401: {"model": TwilioError, "description": "20003: missing or wrong credentials"}
    }
    notes = {
        400: "60200: invalid parameter (named in the message)",
        403: "60410 (pumping guard) or 60605 (country not enabled)",
        404: "20404: not found, or a verification that is no longer pending",
        429: "60202, 60203, 60212 or 20429 (Retry-After when known)",
    }
    for status in statuses:
        described[status] = {"model": TwilioError, "description": notes[status]}
    return described


def form(*fields: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A form-encoded request body with these (PascalCase) parameters."""
    return {
        "requestBody": {
            "required": bool(required),
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {name: {"type": "string"} for name in fields},
                        "required": list(required),
                    }
                }
            },
        }
    }
