"""A real ``secinfo serve`` for the Twilio-compatible API's tests, on SQLite or PostgreSQL,
with credentials made by ``secinfo twilio-credentials create`` and the development mailbox
to read codes from."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.browser import free_port
from tests.support import PostgresDatabase, code_in, generous_limits

SECRET = "twilio-test-secret-" + "x" * 40
# What makes secinfo's rules equal Twilio's (see README, "Coming from Twilio Verify"):
# no resend cool-down. The named limits are loosened for tests of everything else.
TWILIO_RULES = {"SECINFO_RESEND_COOLDOWN_SECONDS": "0"}
DENIED_COUNTRY = "FR"  # SMS to France is refused: Twilio's geo permission (60605)


@dataclass
class TwilioServer:
    url: str
    folder: Path
    database_url: str
    environment: dict[str, str]
    process: subprocess.Popen[str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "secinfo", *args],
            env={**self.environment, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def credentials(self, name: str) -> tuple[str, str]:
        """``secinfo twilio-credentials create``: the Account SID and auth token lines."""
        created = self.cli("twilio-credentials", "create", name)
        assert created.returncode == 0, created.stdout + created.stderr
        lines = created.stdout.splitlines()
        sid = next(line for line in lines if re.fullmatch(r"AC[0-9a-f]{32}", line))
        token = lines[lines.index(sid) + 1]
        assert re.fullmatch(r"[0-9a-f]{32}", token), created.stdout
        return sid, token

    def messages(self, to: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/dev/mailbox.json", params={"to": to}, timeout=5)
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    def wait_for_messages(self, to: str, count: int = 1) -> list[dict[str, Any]]:
        """The in-process delivery loop fills the mailbox within moments; newest first."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            messages = self.messages(to)
            if len(messages) >= count:
                return messages
            time.sleep(0.05)
        raise AssertionError(f"{count} message(s) did not reach {to}")

    def code(self, to: str, count: int = 1) -> str:
        return code_in(self.wait_for_messages(to, count)[0]["body"])

    def block_prefix(self, prefix: str, country: str) -> None:
        """What the SMS-pumping guard writes when a prefix looks pumped."""
        from secinfo.bootstrap import build
        from secinfo.config import load_settings
        from secinfo.domain.model import PrefixBlock

        async def block() -> None:
            app = build(
                load_settings(
                    database_url=self.database_url,
                    data_dir=self.folder,
                    secret_key=SECRET,
                    rate_limits=generous_limits(),
                )
            )
            now = datetime.now(UTC)
            try:
                async with app.deps.uow() as uow:
                    await uow.prefix_blocks.add(
                        PrefixBlock(prefix, country, now, now + timedelta(hours=1), 50, 0)
                    )
                    await uow.commit()
            finally:
                await app.close()

        asyncio.run(block())


def start(
    folder: Path, database: str, **extra: str
) -> tuple[TwilioServer, PostgresDatabase | None]:
    postgres = None
    if database == "postgresql":
        postgres = PostgresDatabase()
        postgres.create()
        database_url = postgres.url
    else:
        database_url = f"sqlite:///{folder}/secinfo.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(folder),
        "SECINFO_DATABASE_URL": database_url,
        "SECINFO_SECRET_KEY": SECRET,
        "SECINFO_ARGON2_TIME_COST": "1",
        "SECINFO_ARGON2_MEMORY_KIB": "8192",
        "SECINFO_RATE_LIMITS": json.dumps(generous_limits()),
        "SECINFO_PUBLIC_URL": url,
        "SECINFO_SMS_DENIED_COUNTRIES": DENIED_COUNTRY,
        **TWILIO_RULES,
        **extra,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "secinfo", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return TwilioServer(url, folder, database_url, environment, process), postgres
        except httpx.TransportError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    process.kill()
    output = process.communicate()[0]
    if postgres:
        postgres.drop()
    raise AssertionError(f"secinfo serve did not start: {output}")


def stop(server: TwilioServer, postgres: PostgresDatabase | None) -> None:
    server.process.terminate()
    try:
        server.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
    if postgres:
        postgres.drop()
