"""The Twilio Verify v2-compatible API driven by the official ``twilio`` Python SDK,
unchanged but for its base URL, against a real ``secinfo serve`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.e2e import twilio_server
from tests.e2e.twilio_server import TwilioServer

_numbers = itertools.count(100000)


def new_phone() -> str:
    """A fresh GB mobile number per use (prefix +447400, which nothing blocks)."""
    return f"+447400{next(_numbers)}"


def new_email() -> str:
    return f"user{next(_numbers)}@example.com"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwilioServer]:
    started, postgres = twilio_server.start(tmp_path_factory.mktemp("twilio"), request.param)
    yield started
    twilio_server.stop(started, postgres)


def sdk(server: TwilioServer, sid: str, token: str) -> Client:
    client = Client(sid, token)
    client.verify.base_url = f"{server.url}/twilio"  # the one line a Twilio user changes
    return client


@pytest.fixture(scope="module")
def account(server: TwilioServer) -> tuple[str, str]:
    return server.credentials("shop backend")


@pytest.fixture(scope="module")
def client(server: TwilioServer, account: tuple[str, str]) -> Client:
    return sdk(server, *account)


@pytest.fixture(scope="module")
def service(client: Client) -> Any:
    return client.verify.v2.services.create(friendly_name="Acme Shop", code_length=8)


def refused(call: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_services_are_created_fetched_updated_paged_and_deleted(
    server: TwilioServer, client: Client, account: tuple[str, str]
) -> None:
    services = client.verify.v2.services
    created = [services.create(friendly_name=f"Paging {index}") for index in range(7)]
    first = created[0]
    assert re.fullmatch(r"VA[0-9a-f]{32}", first.sid)
    assert first.account_sid == account[0]
    assert first.code_length == 6
    assert first.date_created is not None and first.date_created.tzinfo is not None
    assert first.url == f"{server.url}/twilio/v2/Services/{first.sid}"
    assert first.links["verifications"] == f"{first.url}/Verifications"

    # The SDK follows meta.next_page_url from page to page.
    listed = services.list(page_size=3)
    names = [item.friendly_name for item in listed]
    assert [f"Paging {index}" for index in range(7)] == [n for n in names if "Paging" in n]
    page = services.page(page_size=3)
    assert len(list(page)) == 3
    assert page.next_page_url is not None and page.next_page_url.startswith(server.url)
    second = page.next_page()
    assert second is not None and len(list(second)) == 3

    fetched = services(first.sid).fetch()
    assert fetched.friendly_name == "Paging 0"
    updated = services(first.sid).update(friendly_name="Renamed", code_length=4)
    assert (updated.friendly_name, updated.code_length) == ("Renamed", 4)
    assert services(first.sid).fetch().code_length == 4

    too_long = refused(lambda: services(first.sid).update(code_length=11))
    assert (too_long.code, too_long.status) == (60200, 400)
    assert "CodeLength" in too_long.msg

    for item in created:
        assert services(item.sid).delete() is True
    gone = refused(lambda: services(first.sid).fetch())
    assert (gone.code, gone.status) == (20404, 404)


def test_an_sms_code_checked_by_to_approves_and_the_verification_is_then_gone(
    server: TwilioServer, client: Client, service: Any
) -> None:
    to = new_phone()
    verifications = client.verify.v2.services(service.sid).verifications
    started = verifications.create(to=to, channel="sms")
    assert re.fullmatch(r"VE[0-9a-f]{32}", started.sid)
    assert (started.status, started.valid, started.channel) == ("pending", False, "sms")
    assert started.service_sid == service.sid
    assert len(started.send_code_attempts) == 1

    message = server.wait_for_messages(to)[0]
    assert "Acme Shop" in message["body"]  # the service's name, not the product's
    code = server.code(to)
    assert re.fullmatch(r"\d{8}", code)  # the service's code length
    fetched = verifications(started.sid).fetch()
    assert fetched.status == "pending"

    checks = client.verify.v2.services(service.sid).verification_checks
    wrong = checks.create(to=to, code="00000000" if code != "00000000" else "11111111")
    assert (wrong.status, wrong.valid) == ("pending", False)
    right = checks.create(to=to, code=code)
    assert (right.status, right.valid, right.sid) == ("approved", True, started.sid)

    gone = refused(lambda: verifications(started.sid).fetch())
    assert (gone.code, gone.status) == (20404, 404)
    again = refused(lambda: checks.create(to=to, code=code))
    assert (again.code, again.status) == (20404, 404)


def test_an_email_resend_keeps_the_sid_and_a_code_from_before_it_still_works(
    server: TwilioServer, client: Client, service: Any
) -> None:
    to = new_email()
    verifications = client.verify.v2.services(service.sid).verifications
    first = verifications.create(to=to, channel="email")
    early_code = server.code(to)
    second = verifications.create(to=to, channel="email")
    assert second.sid == first.sid
    assert len(second.send_code_attempts) == 2
    later_code = server.code(to, count=2)
    assert later_code != early_code or len(early_code) == 8

    checked = client.verify.v2.services(service.sid).verification_checks.create(
        verification_sid=first.sid, code=early_code
    )
    assert (checked.status, checked.valid) == ("approved", True)


def test_five_wrong_checks_then_60202(server: TwilioServer, client: Client, service: Any) -> None:
    to = new_phone()
    started = client.verify.v2.services(service.sid).verifications.create(to=to, channel="sms")
    code = server.code(to)
    wrong = "1" * 8 if code != "1" * 8 else "2" * 8
    checks = client.verify.v2.services(service.sid).verification_checks
    for _ in range(5):
        answer = checks.create(verification_sid=started.sid, code=wrong)
        assert answer.valid is False
    sixth = refused(lambda: checks.create(verification_sid=started.sid, code=code))
    assert (sixth.code, sixth.status) == (60202, 429)


def test_more_than_five_sends_then_60203(
    server: TwilioServer, client: Client, service: Any
) -> None:
    to = new_phone()
    verifications = client.verify.v2.services(service.sid).verifications
    sids = {verifications.create(to=to, channel="sms").sid for _ in range(5)}
    assert len(sids) == 1
    sixth = refused(lambda: verifications.create(to=to, channel="sms"))
    assert (sixth.code, sixth.status) == (60203, 429)


def test_cancel_ends_a_verification(server: TwilioServer, client: Client, service: Any) -> None:
    to = new_phone()
    verifications = client.verify.v2.services(service.sid).verifications
    started = verifications.create(to=to, channel="sms")
    code = server.code(to)
    canceled = verifications(started.sid).update(status="canceled")
    assert canceled.status == "canceled"
    checks = client.verify.v2.services(service.sid).verification_checks
    late = refused(lambda: checks.create(verification_sid=started.sid, code=code))
    assert (late.code, late.status) == (20404, 404)
    fetch = refused(lambda: verifications(started.sid).fetch())
    assert (fetch.code, fetch.status) == (20404, 404)
    # A new start for the same number is a new verification.
    assert verifications.create(to=to, channel="sms").sid != started.sid


def test_every_refusal_is_twilios_code_and_status(
    server: TwilioServer, client: Client, service: Any, account: tuple[str, str]
) -> None:
    verifications = client.verify.v2.services(service.sid).verifications

    bad_token = sdk(server, account[0], "0" * 32)
    denied = refused(lambda: bad_token.verify.v2.services(service.sid).fetch())
    assert (denied.code, denied.status) == (20003, 401)

    whatsapp = refused(lambda: verifications.create(to=new_phone(), channel="whatsapp"))
    assert (whatsapp.code, whatsapp.status) == (60200, 400)
    assert "whatsapp" in whatsapp.msg

    invalid_to = refused(lambda: verifications.create(to="+1 not a number", channel="sms"))
    assert (invalid_to.code, invalid_to.status) == (60200, 400)

    country = refused(lambda: verifications.create(to="+33612345678", channel="sms"))
    assert (country.code, country.status) == (60605, 403)

    server.block_prefix("+447911", "GB")
    pumped = refused(lambda: verifications.create(to="+447911123456", channel="sms"))
    assert (pumped.code, pumped.status) == (60410, 403)

    custom = refused(
        lambda: verifications.create(to=new_phone(), channel="sms", custom_code="1234")
    )
    assert (custom.code, custom.status) == (60200, 400)

    unknown = refused(lambda: client.verify.v2.services("VA" + "0" * 32).fetch())
    assert (unknown.code, unknown.status) == (20404, 404)


def test_the_wire_error_body_is_exactly_twilios(server: TwilioServer, service: Any) -> None:
    answer = httpx.get(f"{server.url}/twilio/v2/Services/{service.sid}")
    assert answer.status_code == 401
    assert answer.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


def test_accounts_see_only_their_own(server: TwilioServer, service: Any) -> None:
    other = sdk(server, *server.credentials("someone else"))
    assert [item.sid for item in other.verify.v2.services.list()] == []
    hidden = refused(lambda: other.verify.v2.services(service.sid).fetch())
    assert (hidden.code, hidden.status) == (20404, 404)
    start = refused(
        lambda: other.verify.v2.services(service.sid).verifications.create(
            to=new_phone(), channel="sms"
        )
    )
    assert (start.code, start.status) == (20404, 404)


def test_no_response_carries_a_code(
    server: TwilioServer, service: Any, account: tuple[str, str]
) -> None:
    to = new_phone()
    auth = account
    base = f"{server.url}/twilio/v2/Services/{service.sid}"
    started = httpx.post(f"{base}/Verifications", data={"To": to, "Channel": "sms"}, auth=auth)
    assert started.status_code == 201
    code = server.code(to)
    fetched = httpx.get(f"{base}/Verifications/{started.json()['sid']}", auth=auth)
    checked = httpx.post(f"{base}/VerificationCheck", data={"To": to, "Code": code}, auth=auth)
    assert checked.json()["status"] == "approved"
    for answer in (started, fetched, checked):
        assert code not in answer.text
        assert to not in answer.text  # the number is masked, as everywhere in secinfo
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started.json()["date_created"])


def test_rate_limits_and_buckets_count_the_starts_that_name_them(
    server: TwilioServer, client: Client
) -> None:
    service = client.verify.v2.services.create(friendly_name="Limited")
    limits = client.verify.v2.services(service.sid).rate_limits
    per_user = limits.create(unique_name="end_user_id", description="per signed-in user")
    assert re.fullmatch(r"RK[0-9a-f]{32}", per_user.sid)
    assert per_user.links["buckets"].endswith(f"/RateLimits/{per_user.sid}/Buckets")
    duplicate = refused(lambda: limits.create(unique_name="end_user_id"))
    assert (duplicate.code, duplicate.status) == (60200, 400)
    assert limits(per_user.sid).update(description="changed").description == "changed"
    assert [item.unique_name for item in limits.list()] == ["end_user_id"]

    buckets = limits(per_user.sid).buckets
    bucket = buckets.create(max=2, interval=600)
    assert (bucket.max, bucket.interval, bucket.rate_limit_sid) == (2, 600, per_user.sid)
    assert buckets(bucket.sid).fetch().max == 2
    assert [item.sid for item in buckets.list()] == [bucket.sid]

    verifications = client.verify.v2.services(service.sid).verifications
    for _ in range(2):
        verifications.create(to=new_phone(), channel="sms", rate_limits={"end_user_id": "u-1"})
    third = refused(
        lambda: verifications.create(
            to=new_phone(), channel="sms", rate_limits={"end_user_id": "u-1"}
        )
    )
    assert (third.code, third.status) == (20429, 429)
    # Another key has its own bucket; an unknown rate limit name is refused.
    verifications.create(to=new_phone(), channel="sms", rate_limits={"end_user_id": "u-2"})
    unknown = refused(
        lambda: verifications.create(to=new_phone(), channel="sms", rate_limits={"nope": "x"})
    )
    assert (unknown.code, unknown.status) == (60200, 400)

    assert buckets(bucket.sid).update(max=10).max == 10
    verifications.create(to=new_phone(), channel="sms", rate_limits={"end_user_id": "u-1"})
    assert buckets(bucket.sid).delete() is True
    assert limits(per_user.sid).delete() is True
    gone = refused(lambda: limits(per_user.sid).fetch())
    assert (gone.code, gone.status) == (20404, 404)


def test_attempts_and_their_summary(server: TwilioServer, client: Client) -> None:
    service = client.verify.v2.services.create(friendly_name="Attempts")
    verifications = client.verify.v2.services(service.sid).verifications
    converted_to, unconverted_to, email_to = new_phone(), new_phone(), new_email()
    converted = verifications.create(to=converted_to, channel="sms")
    verifications.create(to=unconverted_to, channel="sms")
    verifications.create(to=email_to, channel="email")
    client.verify.v2.services(service.sid).verification_checks.create(
        to=converted_to, code=server.code(converted_to)
    )

    attempts = client.verify.v2.verification_attempts.list(verify_service_sid=service.sid)
    assert len(attempts) == 3
    assert all(re.fullmatch(r"VL[0-9a-f]{32}", item.sid) for item in attempts)
    by_verification = {item.verification_sid: item for item in attempts}
    assert by_verification[converted.sid].conversion_status == "converted"
    assert {item.channel for item in attempts} == {"sms", "email"}
    sms_only = client.verify.v2.verification_attempts.list(
        verify_service_sid=service.sid, channel="sms", page_size=1
    )
    assert len(sms_only) == 2  # two pages of one, followed by the SDK
    gb = client.verify.v2.verification_attempts.list(verify_service_sid=service.sid, country="GB")
    assert len(gb) == 2
    one = client.verify.v2.verification_attempts(attempts[0].sid).fetch()
    assert one.sid == attempts[0].sid

    summary = client.verify.v2.verification_attempts_summary().fetch(verify_service_sid=service.sid)
    assert (summary.total_attempts, summary.total_converted, summary.total_unconverted) == (
        3,
        1,
        2,
    )
    assert float(summary.conversion_rate_percentage) == pytest.approx(33.33, abs=0.01)


def test_credentials_are_listed_without_tokens_and_revoked(server: TwilioServer) -> None:
    sid, token = server.credentials("to revoke")
    listed = server.cli("twilio-credentials", "list")
    assert listed.returncode == 0 and sid in listed.stdout and token not in listed.stdout
    client = sdk(server, sid, token)
    assert client.verify.v2.services.list() == []
    revoked = server.cli("twilio-credentials", "revoke", sid)
    assert revoked.returncode == 0, revoked.stdout
    # A revocation by another process takes effect within the credentials cache's 10 s.
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client.verify.v2.services.create(friendly_name="after revoke")
        except TwilioRestException as error:
            assert (error.code, error.status) == (20003, 401)
            break
        time.sleep(0.5)
    else:
        raise AssertionError("revoked credentials still worked")


def test_the_openapi_description_names_every_resource_and_its_errors(server: TwilioServer) -> None:
    spec = httpx.get(f"{server.url}/twilio/openapi.json").json()
    assert spec["servers"] == [{"url": "/twilio"}]
    for path in (
        "/v2/Services",
        "/v2/Services/{service_sid}/Verifications",
        "/v2/Services/{service_sid}/VerificationCheck",
        "/v2/Services/{service_sid}/RateLimits/{rate_limit_sid}/Buckets",
        "/v2/Attempts",
        "/v2/Attempts/Summary",
    ):
        assert path in spec["paths"], path
    start = spec["paths"]["/v2/Services/{service_sid}/Verifications"]["post"]
    assert {"201", "400", "401", "403", "404", "429"} <= set(start["responses"])
    assert "application/x-www-form-urlencoded" in start["requestBody"]["content"]
    # The native API's description stays its own.
    assert not any(
        path.startswith("/twilio")
        for path in httpx.get(f"{server.url}/openapi.json").json()["paths"]
    )
