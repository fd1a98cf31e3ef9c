"""The Twilio-compatible API's error table, dates, sids and paging block."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from secinfo.domain import errors
from secinfo.domain.verify_services import (
    attempt_message_id,
    attempt_sid,
    is_sid,
    verification_id,
    verification_sid,
)
from secinfo.twilio import errors as twilio_errors
from secinfo.twilio import shapes


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.InvalidApiKey(), (20003, 401)),
        (errors.NotFound(), (20404, 404)),
        (errors.VerificationExpired(), (20404, 404)),
        (errors.VerificationNotPending(), (20404, 404)),
        (errors.MaxAttemptsReached(), (60202, 429)),
        (errors.MaxSendAttemptsReached(), (60203, 429)),
        (errors.TooManyRequests(limit="code.send.destination"), (60203, 429)),
        (errors.TooManyRequests(limit="twilio.bucket.BL1"), (20429, 429)),
        (errors.TooManyRequests(limit="code.send.ip"), (20429, 429)),
        (errors.ResendCooldown(retry_after=3), (60212, 429)),
        (errors.CountryNotAllowed(), (60605, 403)),
        (errors.PrefixPaused(), (60410, 403)),
        (errors.DestinationNotAllowed(), (60410, 403)),
        (errors.InvalidPhone(), (60200, 400)),
        (errors.ChannelNotOffered(), (60200, 400)),
        (errors.RateLimiterUnavailable(), (20503, 503)),
    ],
)
def test_every_domain_error_has_twilios_code_and_status(
    error: errors.DomainError, expected: tuple[int, int]
) -> None:
    assert twilio_errors.twilio_code(error) == expected


def test_the_native_api_keeps_its_codes_for_the_refusals_twilio_tells_apart() -> None:
    assert errors.CountryNotAllowed().code == "destination_not_allowed"
    assert errors.PrefixPaused().code == "destination_not_allowed"


def test_the_error_body_is_exactly_twilios() -> None:
    assert twilio_errors.error_body(60200, 400, "Invalid parameter `To`: …") == {
        "code": 60200,
        "message": "Invalid parameter `To`: …",
        "more_info": "https://www.twilio.com/docs/errors/60200",
        "status": 400,
    }


def test_dates_are_what_the_sdks_parse() -> None:
    moment = datetime(2026, 12, 3, 7, 5, 9, 123456, tzinfo=UTC)
    assert shapes.date(moment) == "2026-12-03T07:05:09Z"
    assert shapes.date(None) is None


def test_sids_map_to_ids_and_back() -> None:
    hexpart = "0123456789abcdef" * 2
    assert verification_sid(f"ver_{hexpart}") == f"VE{hexpart}"
    assert verification_id(f"VE{hexpart}") == f"ver_{hexpart}"
    assert verification_id(f"VA{hexpart}") is None
    assert verification_id("VE123") is None
    assert attempt_message_id(attempt_sid(f"msg_{hexpart}")) == f"msg_{hexpart}"
    assert is_sid(f"AC{hexpart}", "AC") and not is_sid(f"AC{hexpart}x", "AC")


def test_the_meta_block_links_pages_with_absolute_urls() -> None:
    url = "https://secinfo.example.com/twilio/v2/Services"
    records = [{"sid": "VA1"}, {"sid": "VA2"}]
    middle = shapes.page(url, "services", records, 1, 2, has_more=True)
    meta = middle["meta"]
    assert middle["services"] == records
    assert meta["key"] == "services"
    assert (meta["page"], meta["page_size"]) == (1, 2)
    assert meta["first_page_url"] == f"{url}?PageSize=2&Page=0"
    assert meta["url"] == f"{url}?PageSize=2&Page=1"
    assert meta["next_page_url"] == f"{url}?PageSize=2&Page=2&PageToken=PAVA2"
    assert meta["previous_page_url"].startswith(f"{url}?PageSize=2&Page=0")
    last = shapes.page(url, "services", records, 0, 2, has_more=False)["meta"]
    assert last["next_page_url"] is None and last["previous_page_url"] is None
