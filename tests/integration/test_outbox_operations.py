"""Operating the outbox: key rotation, the operator CLI, Prometheus metrics, settings
that name what is missing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from secinfo.adapters.sql.tables import outbox
from secinfo.api.app import create_app
from secinfo.config import ConfigError, load_settings
from secinfo.domain.contacts import Channel
from tests.conftest import TEST_SECRET
from tests.delivery_support import (
    CODE,
    Scripted,
    SmsEndpoint,
    deliver_all,
    delivery_app,
    outbox_rows,
    queue_messages,
)

pytestmark = pytest.mark.anyio
KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


async def test_key_rotation_opens_old_messages_and_seals_new_ones_with_the_new_key(
    database_url: str, tmp_path: Path
) -> None:
    async with delivery_app(database_url, tmp_path, encryption_keys=KEY_A) as app:
        [old] = await queue_messages(app, Channel.EMAIL, ["old@example.com"])
        [sealed_a] = await outbox_rows(app)
    async with delivery_app(database_url, tmp_path, encryption_keys=f"{KEY_B},{KEY_A}") as app:
        async with app.engine.begin() as connection:  # the row survives the restart
            await connection.execute(outbox.insert().values(**sealed_a._mapping))
        [new] = await queue_messages(app, Channel.EMAIL, ["new@example.com"])
        rows = {row.id: row for row in await outbox_rows(app)}
        kid = lambda row: row.body.split(":")[2]  # noqa: E731
        assert kid(rows[old]) != kid(rows[new])
        await deliver_all(app)
        assert app.mailbox is not None
        delivered = {m.to: m.body for m in await app.mailbox.list_messages()}
        assert f"Your code is: {CODE}" in delivered["old@example.com"]
        assert f"Your code is: {CODE}" in delivered["new@example.com"]
    async with delivery_app(database_url, tmp_path, encryption_keys=KEY_B) as app:
        async with app.engine.begin() as connection:
            await connection.execute(outbox.insert().values(**sealed_a._mapping))
        await deliver_all(app)  # key A is gone: that message can never be opened
        [row] = await outbox_rows(app)
        assert (row.status, row.last_error) == ("dead", "sealed body cannot be opened")


async def test_metrics_count_sent_failed_and_dead_by_channel(
    database_url: str, tmp_path: Path
) -> None:
    endpoint = SmsEndpoint().start()
    endpoint.script = [Scripted(503), Scripted(400)]
    settings = {
        "sms_provider": "webhook",
        "sms_webhook_url": endpoint.url,
    }
    try:
        async with delivery_app(database_url, tmp_path, **settings) as app:
            api = create_app(app)
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                before = (await client.get("/metrics")).text
                await queue_messages(app, Channel.SMS, ["+14155550100", "+14155550101"])
                await queue_messages(app, Channel.EMAIL, ["x@example.com"])
                await deliver_all(app)
                after = (await client.get("/metrics")).text
    finally:
        endpoint.stop()

    def value(text: str, channel: str, outcome: str) -> float:
        name = f'secinfo_delivery_messages_total{{channel="{channel}",outcome="{outcome}"}}'
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    assert value(after, "sms", "failed") - value(before, "sms", "failed") == 1
    assert value(after, "sms", "dead") - value(before, "sms", "dead") == 1
    assert value(after, "email", "sent") - value(before, "email", "sent") == 1
    assert "secinfo_delivery_send_seconds_bucket" in after


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SECINFO_DATABASE_URL": f"sqlite:///{tmp_path}/secinfo.db",
        "SECINFO_DATA_DIR": str(tmp_path),
        "SECINFO_SECRET_KEY": TEST_SECRET,
        "COLUMNS": "250",
    }
    return subprocess.run(
        [sys.executable, "-m", "secinfo", "outbox", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


async def test_outbox_list_show_retry_purge(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/secinfo.db"
    endpoint = SmsEndpoint().start()
    endpoint.script = [Scripted(400)]
    settings = {"sms_provider": "webhook", "sms_webhook_url": endpoint.url}
    try:
        async with delivery_app(database_url, tmp_path, **settings) as app:
            [code_message] = await queue_messages(app, Channel.SMS, ["+14155550189"])
            [notice] = await queue_messages(
                app, Channel.EMAIL, ["ab@example.com"], template="password_changed"
            )
            async with app.engine.begin() as connection:  # a notice: no code to wipe
                await connection.execute(
                    outbox.update().where(outbox.c.id == notice).values(carries_secret=False)
                )
            await deliver_all(app)
            async with app.engine.begin() as connection:
                await connection.execute(
                    outbox.update()
                    .where(outbox.c.id == notice)
                    .values(status="dead", last_error="SMTP 550: gone", body="plain notice")
                )
    finally:
        endpoint.stop()

    listed = run_cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "dead: 2" in listed.stdout
    assert "*********89" in listed.stdout and "+14155550189" not in listed.stdout
    assert CODE not in listed.stdout

    shown = run_cli(tmp_path, "show", code_message)
    assert shown.returncode == 0, shown.stderr
    assert "HTTP 400" in shown.stdout and "wiped" in shown.stdout
    assert CODE not in shown.stdout

    retried = run_cli(tmp_path, "retry", "--all-dead")
    assert retried.returncode == 0, retried.stderr
    assert "Queued again: 1" in retried.stdout
    assert f"Not retried {code_message}: its code was wiped" in " ".join(retried.stdout.split())

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        status = connection.scalar(sa.select(outbox.c.status).where(outbox.c.id == notice))
    assert status == "queued"

    purged = run_cli(tmp_path, "purge", "--older-than", "0m")
    assert purged.returncode == 0, purged.stderr
    assert "Purged 1 messages" in purged.stdout
    with engine.connect() as connection:
        left = list(connection.scalars(sa.select(outbox.c.id)))
    engine.dispose()
    assert left == [notice]


def test_settings_name_what_delivery_lacks(tmp_path: Path) -> None:
    secrets = {"secret_key": TEST_SECRET, "encryption_keys": KEY_A, "data_dir": tmp_path}
    with pytest.raises(ConfigError) as production:
        load_settings(env="production", **secrets)
    # The contacts' blind-index key is refused missing like the encryption keys.
    assert "SECINFO_CONTACT_INDEX_KEY" in str(production.value)
    secrets["contact_index_key"] = KEY_B
    assert "SECINFO_SMTP_HOST" in str(production.value)
    assert "SECINFO_SMS_PROVIDER" in str(production.value)
    with pytest.raises(ConfigError) as twilio:
        load_settings(sms_provider="twilio", sms_twilio_account_sid="AC1", data_dir=tmp_path)
    assert "SECINFO_SMS_TWILIO_AUTH_TOKEN" in str(twilio.value)
    assert "SECINFO_SMS_FROM" in str(twilio.value)
    with pytest.raises(ConfigError) as body:
        load_settings(sms_webhook_body='{"text": "{to}"}', data_dir=tmp_path)
    assert "SECINFO_SMS_WEBHOOK_BODY" in str(body.value) and "{body}" in str(body.value)
    with pytest.raises(ConfigError) as smtp:
        load_settings(smtp_host="mail.example.com", data_dir=tmp_path)
    assert "SECINFO_SMTP_FROM_ADDRESS" in str(smtp.value)
    with pytest.raises(ConfigError) as lease:
        load_settings(delivery_lease_seconds=2)
    assert "SECINFO_DELIVERY_LEASE_SECONDS" in str(lease.value)
    # The heartbeat renews the lease during a send: a send may take longer than it.
    assert load_settings(delivery_lease_seconds=5, delivery_send_timeout_seconds=60)
    complete = load_settings(
        env="production",
        smtp_host="mail.example.com",
        smtp_from_address="no-reply@example.com",
        sms_provider="webhook",
        sms_webhook_url="https://sms.example.com/send",
        public_url="https://id.example.com",
        web_domain="example.com",  # the passkeys' relying-party id: the host or a parent
        **secrets,
    )
    assert complete.smtp_port is None and complete.smtp_security == "starttls"
    assert "tw-" not in repr(complete)
