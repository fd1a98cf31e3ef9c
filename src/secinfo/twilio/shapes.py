"""Twilio's JSON shapes: field names, dates as ``YYYY-MM-DDTHH:MM:SSZ``, absolute urls,
and the ``meta`` block the SDKs follow from page to page. No shape carries a code."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from secinfo.domain.contacts import mask
from secinfo.domain.verification import Status, Verification
from secinfo.domain.verify_services import (
    ATTEMPT_PREFIX,
    Attempt,
    RateLimitBucket,
    ServiceRateLimit,
    VerifyService,
    attempt_sid,
    verification_sid,
)


def date(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def service(base: str, item: VerifyService) -> dict[str, Any]:
    url = f"{base}/Services/{item.sid}"
    return {
        "sid": item.sid,
        "account_sid": item.account_sid,
        "friendly_name": item.friendly_name,
        "code_length": item.code_length,
        "lookup_enabled": item.lookup_enabled,
        "psd2_enabled": item.psd2_enabled,
        "skip_sms_to_landlines": item.skip_sms_to_landlines,
        "dtmf_input_required": item.dtmf_input_required,
        "tts_name": item.tts_name,
        "do_not_share_warning_enabled": item.do_not_share_warning_enabled,
        "custom_code_enabled": item.custom_code_enabled,
        "push": {"include_date": False, "apn_credential_sid": None, "fcm_credential_sid": None},
        "totp": {"issuer": item.friendly_name, "time_step": 30, "code_length": 6, "skew": 1},
        "whatsapp": {"msg_service_sid": None, "from": None},
        "passkeys": None,
        "default_template_sid": item.default_template_sid,
        "verify_event_subscription_enabled": False,
        "date_created": date(item.created_at),
        "date_updated": date(item.updated_at),
        "url": url,
        "links": {
            "verifications": f"{url}/Verifications",
            "verification_checks": f"{url}/VerificationCheck",
            "rate_limits": f"{url}/RateLimits",
        },
    }


def _send_attempts(verification: Verification) -> list[dict[str, Any]]:
    return [
        {
            "attempt_sid": ATTEMPT_PREFIX
            + hashlib.sha256(f"{verification.id}:{index}".encode()).hexdigest()[:32],
            "channel": verification.channel.value,
            "time": sent.sent_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        for index, sent in enumerate(verification.codes)
    ]


def _updated(verification: Verification) -> datetime:
    return max(
        moment
        for moment in (verification.created_at, verification.last_sent_at, verification.approved_at)
        if moment is not None
    )


def verification(
    base: str,
    item: Verification,
    account_sid: str,
    now: datetime,
    *,
    amount: str | None = None,
    payee: str | None = None,
) -> dict[str, Any]:
    sid = verification_sid(item.id)
    status = item.current_status(now)
    return {
        "sid": sid,
        "service_sid": item.api_key_id,
        "account_sid": account_sid,
        "to": mask(item.channel, item.destination),
        "channel": item.channel.value,
        "status": status.value,
        "valid": status is Status.APPROVED,
        "lookup": {"carrier": None},
        "amount": amount,
        "payee": payee,
        "send_code_attempts": _send_attempts(item),
        "date_created": date(item.created_at),
        "date_updated": date(_updated(item)),
        "sna": None,
        "url": f"{base}/Services/{item.api_key_id}/Verifications/{sid}",
    }


def verification_check(
    item: Verification,
    account_sid: str,
    now: datetime,
    *,
    amount: str | None = None,
    payee: str | None = None,
) -> dict[str, Any]:
    status = item.current_status(now)
    return {
        "sid": verification_sid(item.id),
        "service_sid": item.api_key_id,
        "account_sid": account_sid,
        "to": mask(item.channel, item.destination),
        "channel": item.channel.value,
        "status": status.value,
        "valid": status is Status.APPROVED,
        "amount": amount,
        "payee": payee,
        "date_created": date(item.created_at),
        "date_updated": date(_updated(item)),
        "sna_attempts_error_codes": [],
    }


def rate_limit(base: str, item: ServiceRateLimit) -> dict[str, Any]:
    url = f"{base}/Services/{item.service_sid}/RateLimits/{item.sid}"
    return {
        "sid": item.sid,
        "service_sid": item.service_sid,
        "account_sid": item.account_sid,
        "unique_name": item.unique_name,
        "description": item.description,
        "date_created": date(item.created_at),
        "date_updated": date(item.updated_at),
        "url": url,
        "links": {"buckets": f"{url}/Buckets"},
    }


def bucket(base: str, item: RateLimitBucket) -> dict[str, Any]:
    return {
        "sid": item.sid,
        "rate_limit_sid": item.rate_limit_sid,
        "service_sid": item.service_sid,
        "account_sid": item.account_sid,
        "max": item.max,
        "interval": item.interval,
        "date_created": date(item.created_at),
        "date_updated": date(item.updated_at),
        "url": f"{base}/Services/{item.service_sid}/RateLimits/{item.rate_limit_sid}"
        f"/Buckets/{item.sid}",
    }


def attempt(base: str, item: Attempt, account_sid: str) -> dict[str, Any]:
    sid = attempt_sid(item.message_id)
    return {
        "sid": sid,
        "account_sid": account_sid,
        "service_sid": item.service_sid,
        "verification_sid": verification_sid(item.verification_id),
        "date_created": date(item.created_at),
        "date_updated": date(item.updated_at),
        "conversion_status": "converted" if item.converted else "unconverted",
        "channel": item.channel,
        "price": {"value": None, "currency": None},
        "channel_data": {
            "to": mask(item.channel, item.destination),
            "status": item.delivery_status,
        },
        "url": f"{base}/Attempts/{sid}",
    }


def page(
    url: str,
    key: str,
    records: list[dict[str, Any]],
    page_number: int,
    page_size: int,
    has_more: bool,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A list in Twilio's shape: the records under ``key`` and the ``meta`` block."""

    def at(number: int, token: str | None = None) -> str:
        query = {**(filters or {}), "PageSize": str(page_size), "Page": str(number)}
        if token:
            query["PageToken"] = token
        return f"{url}?{urlencode(query)}"

    last = records[-1]["sid"] if records else None
    return {
        key: records,
        "meta": {
            "page": page_number,
            "page_size": page_size,
            "first_page_url": at(0),
            "previous_page_url": at(page_number - 1, "PB" + str(page_number - 1))
            if page_number > 0
            else None,
            "url": at(page_number),
            "next_page_url": at(page_number + 1, f"PA{last}") if has_more else None,
            "key": key,
        },
    }
