"""secinfo scaled out: two ``secinfo serve --no-worker`` processes and two
``secinfo worker`` processes on one PostgreSQL and one Redis, sending to a real SMTP
server. Nothing is held in a process: every rule holds across them.

- a limit counts the requests of both API processes together;
- a code is used once, even when both processes check it at the same moment;
- a waiting period ends exactly once (one notice, one event), with both workers
  running the job;
- every message is delivered exactly once, with both workers delivering.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.delivery_support import SmtpServer, free_port, wait_until
from tests.processes import SecinfoProcess
from tests.support import REDIS_URL, PostgresDatabase, code_in, generous_limits, unavailable

PASSWORD = "a scaled-out passphrase 1"


@dataclass
class Cluster:
    apis: list[str]
    smtp: SmtpServer
    api_key: str

    def mail_to(self, to: str) -> list[str]:
        """The bodies of the messages the SMTP server received for ``to``, oldest first."""
        with self.smtp.inbox.lock:
            received = [item for item in self.smtp.inbox.received if to in item.recipients]
        bodies = []
        for item in received:
            part = item.message.get_body(preferencelist=("plain",))
            assert part is not None
            bodies.append(str(part.get_content()))
        return bodies

    def code_for(self, to: str, count: int = 1) -> str:
        wait_until(lambda: len(self.mail_to(to)) >= count, 30, f"message {count} to {to}")
        return code_in(self.mail_to(to)[count - 1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
    except Exception as error:
        unavailable("Redis", error)
    database = PostgresDatabase()
    try:
        database.create()
    except Exception as error:
        unavailable("PostgreSQL", error)
    smtp = SmtpServer().start()
    folder = tmp_path_factory.mktemp("cluster")
    limits = generous_limits() | {"sign_in.name": "3/hour"}
    environment = {
        **os.environ,
        "SECINFO_DATABASE_URL": database.url,
        "SECINFO_DATA_DIR": str(folder),
        "SECINFO_SECRET_KEY": TEST_SECRET,
        "SECINFO_REDIS_URL": REDIS_URL,
        "SECINFO_REDIS_KEY_PREFIX": f"scaleout-{secrets.token_hex(4)}",
        "SECINFO_RATE_LIMITS": json.dumps(limits),
        "SECINFO_ARGON2_TIME_COST": "1",
        "SECINFO_ARGON2_MEMORY_KIB": "8192",
        "SECINFO_SMTP_HOST": "127.0.0.1",
        "SECINFO_SMTP_PORT": str(smtp.port),
        "SECINFO_SMTP_SECURITY": "none",
        "SECINFO_SMTP_FROM_ADDRESS": "no-reply@secinfo.example",
        "SECINFO_DELIVERY_POLL_SECONDS": "0.2",
        "SECINFO_JOBS_INTERVAL_SECONDS": "0.5",
        # A waiting period of 15 seconds, so that it ends during the test.
        "SECINFO_WAITING_PERIOD_DAYS": str(15 / 86400),
        "SECINFO_LOG_LEVEL": "warning",
    }
    processes: list[SecinfoProcess] = []
    try:
        migrated = subprocess.run(
            [sys.executable, "-m", "secinfo", "migrate"],
            env=environment,
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        created = subprocess.run(
            [sys.executable, "-m", "secinfo", "apikey", "create", "scale-out"],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        )
        api_key = next(line for line in created.stdout.splitlines() if line.startswith("sik_"))
        apis = []
        for _ in range(2):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            serve = {**environment, "SECINFO_PUBLIC_URL": url}
            processes.append(
                SecinfoProcess(["serve", "--no-worker", "--no-migrate", "--port", str(port)], serve)
            )
            apis.append(url)
        for _ in range(2):
            processes.append(SecinfoProcess(["worker"], environment))
        for url in apis:
            wait_until(lambda url=url: _healthy(url), 30, f"{url} to start")
        for worker in processes[2:]:
            wait_until(lambda worker=worker: "delivering" in worker.output, 30, worker.output)
        yield Cluster(apis, smtp, api_key.strip())
        for running in processes:
            assert "Traceback" not in running.output, running.output
    finally:
        for running in processes:
            running.stop_quietly()
        smtp.stop()
        database.drop()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def sign_up(cluster: Cluster, email: str) -> str:
    """Sign up on the first API process, confirm on the second: a session token."""
    first, second = cluster.apis
    started = httpx.post(f"{first}/v1/accounts", json={"sign_in_name": email, "password": PASSWORD})
    assert started.status_code == 202, started.text
    confirmed = httpx.post(
        f"{second}/v1/accounts/confirm",
        json={
            "verification_id": started.json()["verification_id"],
            "code": cluster.code_for(email),
        },
    )
    assert confirmed.status_code == 201, confirmed.text
    token: str = confirmed.json()["token"]
    return token


def test_a_limit_counts_the_requests_of_every_api_process(cluster: Cluster) -> None:
    sign_up(cluster, "limits@example.com")
    answers = [
        httpx.post(
            f"{cluster.apis[n % 2]}/v1/sessions",
            json={"sign_in_name": "limits@example.com", "password": "not the password 1"},
        )
        for n in range(5)
    ]

    # sign_in.name is 3/hour: three wrong passwords, on either process, then refused.
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429, 429]
    assert answers[3].json()["error"]["code"] == "rate_limited"


def checked_at_once(
    cluster: Cluster, verification_id: str, code: str, headers: dict[str, str]
) -> list[httpx.Response]:
    """The same code checked on both API processes at the same moment."""
    barrier = threading.Barrier(2)

    def check(url: str) -> httpx.Response:
        barrier.wait()
        return httpx.post(
            f"{url}/v1/verifications/{verification_id}/check",
            json={"code": code},
            headers=headers,
        )

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(check, cluster.apis))


def test_a_code_checked_on_both_processes_at_once_is_used_once(cluster: Cluster) -> None:
    headers = {"Authorization": f"Bearer {cluster.api_key}"}
    outcomes: Counter[str] = Counter()
    for n in range(8):
        to = f"race{n}@example.com"
        started = httpx.post(
            f"{cluster.apis[n % 2]}/v1/verifications",
            json={"to": to, "channel": "email"},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        answers = checked_at_once(cluster, started.json()["id"], cluster.code_for(to), headers)
        approved = [a for a in answers if a.status_code == 200 and a.json().get("valid") is True]
        assert len(approved) == 1, [answer.text for answer in answers]
        outcomes.update(str(answer.status_code) for answer in answers)
    assert outcomes["200"] >= 8


def test_a_waiting_period_ends_exactly_once_with_two_workers(cluster: Cluster) -> None:
    email = "waiting@example.com"
    token = sign_up(cluster, email)
    auth = {"Authorization": f"Bearer {token}"}
    first, second = cluster.apis
    items = httpx.get(f"{first}/v1/me/security-info", headers=auth).json()["items"]
    step_up = httpx.post(
        f"{first}/v1/me/step-up", json={"security_info_id": items[0]["id"]}, headers=auth
    )
    assert step_up.status_code == 201, step_up.text
    checked = httpx.post(
        f"{second}/v1/me/step-up/{step_up.json()['id']}/check",
        json={"code": cluster.code_for(email, 2)},
        headers=auth,
    )
    assert checked.status_code == 200, checked.text
    started = httpx.post(f"{second}/v1/me/security-info/remove-all", headers=auth)
    assert started.status_code == 202, started.text

    def ended() -> bool:
        return httpx.get(f"{first}/v1/me/pending-change", headers=auth).status_code == 409

    wait_until(ended, 60, "the waiting period to end")
    time.sleep(2)  # both workers keep running the job: a second completion would show now
    activity = httpx.get(f"{second}/v1/me/activity", headers=auth).json()["events"]
    types = Counter(event["type"] for event in activity)
    assert types["account:pending_change:started"] == 1
    assert types["account:pending_change:completed"] == 1
    items = httpx.get(f"{first}/v1/me/security-info", headers=auth).json()["items"]
    assert [item for item in items if item["state"] != "removed"] == []


def test_every_message_is_delivered_once_by_two_workers(cluster: Cluster) -> None:
    headers = {"Authorization": f"Bearer {cluster.api_key}"}
    before = cluster.smtp.inbox.count()
    destinations = [f"bulk{n}@example.com" for n in range(150)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda pair: httpx.post(
                    f"{cluster.apis[pair[0] % 2]}/v1/verifications",
                    json={"to": pair[1], "channel": "email"},
                    headers=headers,
                ),
                enumerate(destinations),
            )
        )
    assert {answer.status_code for answer in answers} == {201}
    wait_until(lambda: cluster.smtp.inbox.count() >= before + 150, 60, "150 messages")
    time.sleep(1)  # a duplicate would arrive now
    received = cluster.smtp.inbox.message_ids()[before:]
    assert len(received) == 150
    assert len(set(received)) == 150
    recipients = Counter(
        recipient for item in cluster.smtp.inbox.received[before:] for recipient in item.recipients
    )
    assert set(recipients) == set(destinations)
    assert set(recipients.values()) == {1}
