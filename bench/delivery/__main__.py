"""Delivery throughput: real ``secinfo worker`` processes draining a full outbox into a
local SMTP server, a local SMS endpoint or a local webhook receiver, each a separate process.

    .venv/bin/python -m bench.delivery                     # email + SMS, PostgreSQL, 2 workers
    .venv/bin/python -m bench.delivery --channel all --workers 1   # + the development mailbox
    .venv/bin/python -m bench.delivery --channel sms --workers 1 --messages 2000
    .venv/bin/python -m bench.delivery --channel webhook   # signed webhooks to one endpoint
    .venv/bin/python -m bench.delivery --database sqlite --workers 1

For each run: queue N code messages (sealed, as services do), start the workers, and time
from their start until every message is ``sent`` in the database; the receiving server's
own count is checked against N (the development mailbox: its rows). ``mailbox`` sends the
emails to the development mailbox (no SMTP configured). Results go to stdout and
bench/results/delivery.md.
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
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from secinfo.adapters.migrations import migrate
from secinfo.adapters.sql.database import create_engine
from secinfo.adapters.sql.repositories import SqlOutbox
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

    cpu_seconds: float = 0.0  # the workers' CPU time (user + system) over the run

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def per_cpu_second(self) -> float:
        """Messages per second of worker CPU: what one worker does on a core of its own,
        whatever else the machine runs."""
        return self.messages / self.cpu_seconds if self.cpu_seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        messages = [
            OutgoingMessage(
                id=new_id("msg"),
                channel=channel,
                destination=f"user{n}@example.com"
                if channel is Channel.EMAIL
                else f"+1415555{n:04d}",
                template="code_integrator",
                locale="en",
                subject=rendered.subject,
                body=rendered.text,
                created_at=now,
                carries_secret=True,
                expires_at=now + timedelta(hours=1),
                next_attempt_at=now,
            )
            for n in range(count)
        ]
        async with app.engine.begin() as connection:
            await connection.execute(sa.delete(outbox))
            store = SqlOutbox(connection, box)  # sealed body and destination, as services do
            for message in messages:
                await store.add(message)
    finally:
        await app.close()


async def mailbox_count(database_url: str) -> int:
    from secinfo.adapters.sql.tables import dev_mailbox

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            value = await connection.scalar(sa.select(sa.func.count()).select_from(dev_mailbox))
            return int(value or 0)
    finally:
        await engine.dispose()


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


def run(
    sink_name: str, database: str, workers: int, concurrency: int, count: int, batch: int
) -> Result:
    mailbox = sink_name == "mailbox"
    channel = Channel.EMAIL if mailbox else Channel(sink_name)
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
    sink = None if mailbox else start_sink("smtp" if channel is Channel.EMAIL else "http", port)
    env = {
        **os.environ,
        "SECINFO_DATABASE_URL": database_url,
        "SECINFO_DATA_DIR": str(data_dir),
        "SECINFO_SECRET_KEY": SECRET,
        "SECINFO_LOG_LEVEL": "warning",
        "SECINFO_DELIVERY_POLL_SECONDS": "0.1",
        "SECINFO_DELIVERY_CONCURRENCY": str(concurrency),
        "SECINFO_DELIVERY_BATCH_SIZE": str(batch),
    }
    count_url = ""
    if mailbox:
        pass  # no SMTP: email goes to the development mailbox
    elif channel is Channel.EMAIL:
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
    processes: list[subprocess.Popen[str]] = []
    try:
        # The workers start first and idle; the clock starts when the whole outbox is
        # committed at once (process start-up is not delivery).
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "secinfo", "worker"],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        for process in processes:
            assert process.stdout is not None
            for line in process.stdout:
                if "delivering" in line:
                    break
            threading.Thread(target=process.stdout.read, daemon=True).start()
        time.sleep(0.5)  # past the first look at an empty outbox
        cpu_before = sum(cpu_seconds(process.pid) for process in processes)
        if channel is Channel.WEBHOOK:
            hook_url = f"http://127.0.0.1:{port}/hooks"
            asyncio.run(queue_webhooks(database_url, data_dir, hook_url, count))
        else:
            asyncio.run(queue(database_url, data_dir, channel, count))
        began = time.monotonic()
        while asyncio.run(sent_count(database_url)) < count:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker exited early")
            time.sleep(0.05)
        seconds = time.monotonic() - began
        cpu = sum(cpu_seconds(process.pid) for process in processes) - cpu_before
        if mailbox:
            received = asyncio.run(mailbox_count(database_url))
        else:
            received = int(httpx.get(count_url).json()["count"])
        return Result(sink_name, database, workers, concurrency, count, seconds, received, cpu)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        if sink is not None:
            sink.terminate()
            sink.wait(10)
        if database == "postgres":
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--channel",
        choices=["email", "sms", "webhook", "mailbox", "both", "all"],
        default="both",
        help="both: email and sms; all: mailbox, email and sms",
    )
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100, help="SECINFO_DELIVERY_BATCH_SIZE")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.output is None:
        name = "webhooks.md" if args.channel == "webhook" else "delivery.md"
        args.output = ROOT / "bench/results" / name
    sinks = {"both": ["email", "sms"], "all": ["mailbox", "email", "sms"]}.get(
        args.channel, [args.channel]
    )
    results = [
        run(sink, args.database, args.workers, args.concurrency, args.messages, args.batch)
        for sink in sinks
    ]
    lines = [
        "| channel | database | workers | concurrency | messages | seconds | msg/s "
        "| worker CPU s | msg per worker CPU s | received |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.channel} | {result.database} | {result.workers} | {result.concurrency} "
            f"| {result.messages} | {result.seconds:.2f} | {result.rate:.0f} "
            f"| {result.cpu_seconds:.2f} | {result.per_cpu_second:.0f} | {result.received} |"
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
