"""Delivery throughput: real ``secinfo worker`` processes draining a full outbox into a
local SMTP server, a local SMS endpoint or a local webhook receiver, each a separate process.

    .venv/bin/python -m bench.delivery                     # email + SMS, PostgreSQL, 2 workers
    .venv/bin/python -m bench.delivery --channel sms --workers 1 --messages 2000
    .venv/bin/python -m bench.delivery --channel webhook   # signed webhooks to one endpoint
    .venv/bin/python -m bench.delivery --database sqlite --workers 1

For each run: queue N code messages (sealed, as services do), start the workers, and time
from their start until every message is ``sent`` in the database; the receiving server's
own count is checked against N. Results go to stdout and bench/results/delivery.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql.database import create_engine
from secinfo.adapters.sql.tables import outbox
from secinfo.bootstrap import build
from secinfo.config import load_settings
from secinfo.domain.contacts import Channel
from secinfo.domain.model import OutgoingMessage
from secinfo.services.deps import new_id

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-secret-" + "x" * 40
ADMIN_URL = os.environ.get(
    "SECINFO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Result:
    channel: str
    database: str
    workers: int
    concurrency: int
    messages: int
    seconds: float
    received: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def queue_webhooks(database_url: str, data_dir: Path, url: str, count: int) -> None:
    """One endpoint subscribed to everything, and N events queued for it."""
    from secinfo.domain.webhooks import event_payload
    from secinfo.services import webhooks

    app = build(load_settings(database_url=database_url, data_dir=data_dir, secret_key=SECRET))
    try:
        endpoint = (await webhooks.create(app.deps, url, ["*"])).endpoint
        now = datetime.now(UTC)
        rows = []
        for n in range(count):
            body = event_payload(
                "account:sign_in:success", now, event_id=f"evt_{n:032d}", account_id="acc_bench"
            )
            rows.append(
                {
                    **vars(
                        OutgoingMessage(
                            id=new_id("msg"),
                            channel=Channel.WEBHOOK,
                            destination=endpoint.id,
                            template="account:sign_in:success",
                            locale="en",
                            subject="",
                            body=body,
                            created_at=now,
                            next_attempt_at=now,
                        )
                    ),
                    "channel": Channel.WEBHOOK.value,
                    "status": "queued",
                }
            )
        async with app.engine.begin() as connection:
            await connection.execute(sa.delete(outbox))
            await connection.execute(outbox.insert(), rows)
    finally:
        await app.close()


async def queue(database_url: str, data_dir: Path, channel: Channel, count: int) -> None:
    if channel is Channel.WEBHOOK:
        raise ValueError("webhooks are queued by queue_webhooks")
    app = build(load_settings(database_url=database_url, data_dir=data_dir, secret_key=SECRET))
    try:
        now = datetime.now(UTC)
        box = app.deliverer.queue.box  # type: ignore[attr-defined]
        rendered = app.deps.renderer.render(
            "code_integrator",
            channel,
            "en",
            {
                "product": "secinfo",
                "domain": "example.com",
                "code": "428913",
                "account": "al*****@example.com",
                "minutes": 10,
            },
        )
        rows = []
        for n in range(count):
            message_id = new_id("msg")
            to = f"user{n}@example.com" if channel is Channel.EMAIL else f"+1415555{n:04d}"
            rows.append(
                {
                    **vars(
                        OutgoingMessage(
                            id=message_id,
                            channel=channel,
                            destination=to,
                            template="code_integrator",
                            locale="en",
                            subject=rendered.subject,
                            body="",
                            created_at=now,
                            carries_secret=True,
                            expires_at=now + timedelta(hours=1),
                            next_attempt_at=now,
                        )
                    ),
                    "channel": channel.value,
                    "status": "queued",
                    "body": box.seal(rendered.text, associated=message_id),
                }
            )
        async with app.engine.begin() as connection:
            await connection.execute(sa.delete(outbox))
            await connection.execute(outbox.insert(), rows)
    finally:
        await app.close()


async def sent_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            value = await connection.scalar(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "sent")
            )
            return int(value or 0)
    finally:
        await engine.dispose()


def start_sink(kind: str, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/delivery/sinks.py"), kind, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def run(channel: Channel, database: str, workers: int, concurrency: int, count: int) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix="secinfo-bench-"))
    database_name = f"secinfo_bench_{os.getpid()}"
    if database == "postgres":
        base = ADMIN_URL.rpartition("/")[0]
        database_url = f"{base}/{database_name}"
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database_name}"'))
        asyncio.run(admin(f'CREATE DATABASE "{database_name}"'))
    else:
        database_url = f"sqlite:///{data_dir}/bench.db"

    async def prepare() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    port = free_port()
    sink = start_sink("smtp" if channel is Channel.EMAIL else "http", port)
    env = {
        **os.environ,
        "SECINFO_DATABASE_URL": database_url,
        "SECINFO_DATA_DIR": str(data_dir),
        "SECINFO_SECRET_KEY": SECRET,
        "SECINFO_LOG_LEVEL": "warning",
        "SECINFO_DELIVERY_POLL_SECONDS": "0.1",
        "SECINFO_DELIVERY_CONCURRENCY": str(concurrency),
        "SECINFO_DELIVERY_BATCH_SIZE": "100",
    }
    if channel is Channel.EMAIL:
        env |= {
            "SECINFO_SMTP_HOST": "127.0.0.1",
            "SECINFO_SMTP_PORT": str(port),
            "SECINFO_SMTP_SECURITY": "none",
            "SECINFO_SMTP_FROM_ADDRESS": "no-reply@example.com",
            "SECINFO_SMTP_MAX_CONNECTIONS": str(concurrency),
        }
        count_url = f"http://127.0.0.1:{port + 1}/count"
    elif channel is Channel.WEBHOOK:
        count_url = f"http://127.0.0.1:{port}/count"
    else:
        env |= {
            "SECINFO_SMS_PROVIDER": "twilio",
            "SECINFO_SMS_TWILIO_BASE_URL": f"http://127.0.0.1:{port}",
            "SECINFO_SMS_TWILIO_ACCOUNT_SID": "ACbench",
            "SECINFO_SMS_TWILIO_AUTH_TOKEN": "bench-token",
            "SECINFO_SMS_FROM": "+15005550006",
        }
        count_url = f"http://127.0.0.1:{port}/count"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if channel is Channel.WEBHOOK:
            hook_url = f"http://127.0.0.1:{port}/hooks"
            asyncio.run(queue_webhooks(database_url, data_dir, hook_url, count))
        else:
            asyncio.run(queue(database_url, data_dir, channel, count))
        began = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "secinfo", "worker"], env=env, stdout=subprocess.DEVNULL
            )
            for _ in range(workers)
        ]
        while asyncio.run(sent_count(database_url)) < count:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker exited early")
            time.sleep(0.05)
        seconds = time.monotonic() - began
        received = int(httpx.get(count_url).json()["count"])
        return Result(channel.value, database, workers, concurrency, count, seconds, received)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        sink.terminate()
        sink.wait(10)
        if database == "postgres":
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel", choices=["email", "sms", "webhook", "both"], default="both")
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.output is None:
        name = "webhooks.md" if args.channel == "webhook" else "delivery.md"
        args.output = ROOT / "bench/results" / name
    channels = [Channel.EMAIL, Channel.SMS] if args.channel == "both" else [Channel(args.channel)]
    results = [
        run(channel, args.database, args.workers, args.concurrency, args.messages)
        for channel in channels
    ]
    lines = [
        "| channel | database | workers | concurrency | messages | seconds | msg/s | received |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.channel} | {result.database} | {result.workers} | {result.concurrency} "
            f"| {result.messages} | {result.seconds:.2f} | {result.rate:.0f} | {result.received} |"
        )
    report = "\n".join(lines)
    print(report)
    header = (
        f"# Delivery throughput\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
        "`python -m bench.delivery` " + " ".join(sys.argv[1:]) + "\n\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + report + "\n")


if __name__ == "__main__":
    main()
