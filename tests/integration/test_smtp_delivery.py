"""Email over SMTP against a real SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS,
AUTH, refusals, and a server that goes away and comes back."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from secinfo.domain.contacts import Channel
from tests.delivery_support import (
    CODE,
    SmtpServer,
    attempt_rows,
    deliver_all,
    delivery_app,
    outbox_rows,
    password_checker,
    queue_messages,
    tls_contexts,
)
from tests.support import MovableClock

pytestmark = pytest.mark.anyio


def smtp_settings(server: SmtpServer, **more: object) -> dict[str, object]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_from_address": "no-reply@secinfo.example",
        "smtp_from_name": "Example Security",
        "smtp_timeout_seconds": 5,
        **more,
    }


@pytest.fixture
def smtp_server() -> object:
    server = SmtpServer().start()
    yield server
    server.stop()


async def test_a_code_email_is_multipart_with_proper_headers(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    async with delivery_app(database_url, tmp_path, **smtp_settings(smtp_server)) as app:
        [message_id] = await queue_messages(app, Channel.EMAIL, ["alice@example.com"])
        await deliver_all(app)
        [received] = smtp_server.inbox.received
        email = received.message
        assert email["From"] == "Example Security <no-reply@secinfo.example>"
        assert email["To"] == "alice@example.com"
        assert email["Subject"] == "Your secinfo verification code"
        assert email["Message-ID"] == f"<{message_id}@secinfo.example>"
        assert parsedate_to_datetime(email["Date"]).tzinfo is not None
        assert email.get_content_type() == "multipart/alternative"
        text = email.get_body(preferencelist=("plain",))
        html = email.get_body(preferencelist=("html",))
        assert text is not None and html is not None
        assert f"Your code is: {CODE}" in text.get_content()
        assert f"Your code is: {CODE}" in html.get_content()
        assert "<h1" in html.get_content() and "Don&#39;t share this code" in html.get_content()
        assert received.recipients == ["alice@example.com"]

        [row] = await outbox_rows(app)
        assert row.status == "sent"
        assert row.provider_message_id == email["Message-ID"]
        assert row.body == ""  # the code is wiped once sent
        [attempt] = await attempt_rows(app, message_id)
        assert attempt.outcome == "sent"
        assert attempt.provider_message_id == email["Message-ID"]
        assert attempt.started_at <= attempt.finished_at


async def test_german_email_in_the_accounts_locale(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    async with delivery_app(database_url, tmp_path, **smtp_settings(smtp_server)) as app:
        await queue_messages(app, Channel.EMAIL, ["bob@example.com"], locale="de-AT")
        await deliver_all(app)
        [received] = smtp_server.inbox.received
        assert received.message["Subject"] == "Ihr secinfo-Bestätigungscode"
        assert received.message["Content-Language"] == "de-AT"
        html = received.message.get_body(preferencelist=("html",))
        assert html is not None and '<html lang="de-at">' in html.get_content()


async def test_starttls_with_a_self_signed_certificate_trusted_by_config(
    database_url: str, tmp_path: Path
) -> None:
    server_context, ca_file = tls_contexts(tmp_path)
    server = SmtpServer(tls_context=server_context, require_starttls=True).start()
    try:
        settings = smtp_settings(server, smtp_security="starttls", smtp_ca_file=ca_file)
        async with delivery_app(database_url, tmp_path, **settings) as app:
            await queue_messages(app, Channel.EMAIL, ["carol@example.com"])
            await deliver_all(app)
            [received] = server.inbox.received
            assert received.tls  # the message went over the upgraded connection
            [row] = await outbox_rows(app)
            assert row.status == "sent"
    finally:
        server.stop()


async def test_an_untrusted_certificate_is_a_retried_failure(
    database_url: str, tmp_path: Path
) -> None:
    server_context, _ = tls_contexts(tmp_path)
    server = SmtpServer(tls_context=server_context, require_starttls=True).start()
    try:
        settings = smtp_settings(server, smtp_security="starttls")  # no CA configured
        async with delivery_app(database_url, tmp_path, **settings) as app:
            await queue_messages(app, Channel.EMAIL, ["dan@example.com"])
            await deliver_all(app)
            assert server.inbox.received == []
            [row] = await outbox_rows(app)
            assert row.status == "failed"
            assert "SSLCertVerificationError" in row.last_error
    finally:
        server.stop()


async def test_implicit_tls(database_url: str, tmp_path: Path) -> None:
    server_context, ca_file = tls_contexts(tmp_path)
    server = SmtpServer(ssl_context=server_context).start()
    try:
        settings = smtp_settings(server, smtp_security="tls", smtp_ca_file=ca_file)
        async with delivery_app(database_url, tmp_path, **settings) as app:
            await queue_messages(app, Channel.EMAIL, ["erin@example.com"])
            await deliver_all(app)
            [received] = server.inbox.received
            assert received.tls
    finally:
        server.stop()


async def test_a_server_that_requires_auth(database_url: str, tmp_path: Path) -> None:
    server_context, ca_file = tls_contexts(tmp_path)
    server = SmtpServer(
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=password_checker(b"mailer", b"right horse battery"),
    ).start()
    try:
        good = smtp_settings(
            server,
            smtp_security="starttls",
            smtp_ca_file=ca_file,
            smtp_username="mailer",
            smtp_password="right horse battery",
        )
        async with delivery_app(database_url, tmp_path, **good) as app:
            await queue_messages(app, Channel.EMAIL, ["frank@example.com"])
            await deliver_all(app)
            [received] = server.inbox.received
            assert received.login == b"mailer"

        bad = {**good, "smtp_password": "wrong staple"}
        async with delivery_app(database_url, tmp_path, **bad) as app:
            await queue_messages(app, Channel.EMAIL, ["grace@example.com"])
            await deliver_all(app)
            assert len(server.inbox.received) == 1
            [row] = await outbox_rows(app)
            assert row.status == "failed"  # an operator can fix credentials: retried
            assert row.last_error.startswith("SMTP 535: authentication failed")
            assert "wrong staple" not in row.last_error
            assert row.body.startswith("sealed:v1:")  # still sealed while it waits
    finally:
        server.stop()


async def test_recipient_refusals_5xx_are_permanent_4xx_are_retried(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    smtp_server.inbox.refuse = {
        "nobody@example.com": "550 5.1.1 No such user here",
        "busy@example.com": "450 4.2.1 Mailbox busy, try later",
    }
    async with delivery_app(database_url, tmp_path, **smtp_settings(smtp_server)) as app:
        dead_id, busy_id = await queue_messages(
            app, Channel.EMAIL, ["nobody@example.com", "busy@example.com"]
        )
        await deliver_all(app)
        rows = {row.id: row for row in await outbox_rows(app)}
        assert rows[dead_id].status == "dead"
        assert rows[dead_id].last_error == "SMTP 550: recipient refused: 5.1.1 No such user here"
        assert rows[dead_id].body == ""
        assert rows[busy_id].status == "failed"
        assert rows[busy_id].last_error.startswith("SMTP 450")
        assert rows[busy_id].next_attempt_at > rows[busy_id].created_at
        assert CODE not in rows[dead_id].last_error + rows[busy_id].last_error


async def test_server_down_then_back_every_message_arrives_once(
    database_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    clock = MovableClock()
    async with delivery_app(
        database_url, tmp_path, clock=clock, **smtp_settings(smtp_server)
    ) as app:
        smtp_server.stop()
        destinations = [f"user{n}@example.com" for n in range(20)]
        ids = await queue_messages(app, Channel.EMAIL, destinations, ttl=timedelta(hours=1))
        await deliver_all(app)
        rows = await outbox_rows(app)
        assert {row.status for row in rows} == {"failed"}
        assert all("connection" in row.last_error for row in rows)

        smtp_server.start()
        clock.advance(seconds=30)  # past the first retry (5 s, jittered)
        await deliver_all(app)
        assert sorted(smtp_server.inbox.message_ids()) == sorted(
            f"<{message_id}@secinfo.example>" for message_id in ids
        )
        rows = await outbox_rows(app)
        assert {row.status for row in rows} == {"sent"}
        assert {row.attempts for row in rows} == {2}
        outcomes = [attempt.outcome for attempt in await attempt_rows(app, ids[0])]
        assert outcomes == ["failed", "sent"]
