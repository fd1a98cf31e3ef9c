"""``secinfo`` commands run as real processes by the tests: a wrapper that drains the
output on a thread, and ``Worker``, a ``secinfo worker`` sending to a test SMTP server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET
from tests.delivery_support import SmtpServer, wait_until

FROM_DOMAIN = "secinfo.example"


class SecinfoProcess:
    """``python -m secinfo ARGUMENTS`` with ``environment``; its output is kept."""

    def __init__(self, arguments: list[str], environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "secinfo", *arguments],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def terminate(self, timeout: float = 15) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop_quietly(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Worker(SecinfoProcess):
    """A ``secinfo worker`` on ``database_url`` sending email to ``smtp``."""

    def __init__(self, database_url: str, data_dir: Path, smtp: SmtpServer, **env: str) -> None:
        super().__init__(
            ["worker"],
            {
                **os.environ,
                "SECINFO_DATABASE_URL": database_url,
                "SECINFO_DATA_DIR": str(data_dir),
                "SECINFO_SECRET_KEY": TEST_SECRET,
                "SECINFO_SMTP_HOST": "127.0.0.1",
                "SECINFO_SMTP_PORT": str(smtp.port),
                "SECINFO_SMTP_SECURITY": "none",
                "SECINFO_SMTP_FROM_ADDRESS": f"no-reply@{FROM_DOMAIN}",
                "SECINFO_DELIVERY_POLL_SECONDS": "0.2",
                "SECINFO_LOG_LEVEL": "warning",
                **env,
            },
        )

    def wait_ready(self) -> None:
        wait_until(lambda: "delivering" in self.output, 30, f"worker start: {self.output}")

    @property
    def worker_id(self) -> str:
        """The id it claims with (from its start line)."""
        self.wait_ready()
        found = re.search(r"worker (\S+) delivering", self.output)
        assert found, self.output
        return found[1]


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    """Workers a test starts; any still running at the end are killed."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop_quietly()
