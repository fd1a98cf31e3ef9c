"""The same flows with the official Twilio Node.js SDK (``twilio`` from npm): the
compatibility is the wire protocol, not the Python SDK's tolerance."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import twilio_server
from tests.e2e.twilio_server import TwilioServer

NODE_DIR = Path(__file__).parent / "twilio-node"
FLOWS = (
    "services",
    "smsCheckedByTo",
    "emailResendAndLateCodeBySid",
    "fiveWrongChecks",
    "sixSends",
    "cancel",
    "errors",
    "rateLimits",
    "attempts",
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwilioServer]:
    started, postgres = twilio_server.start(tmp_path_factory.mktemp("twilio-node"), request.param)
    yield started
    twilio_server.stop(started, postgres)


def test_the_node_sdk_runs_every_flow(server: TwilioServer) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed: apt-get install -y nodejs npm"
    assert (NODE_DIR / "node_modules" / "twilio").is_dir(), (
        "the Twilio Node SDK is not installed: run `make test`, or "
        "`npm ci --prefix tests/e2e/twilio-node --no-audit --no-fund`"
    )
    sid, token = server.credentials("node backend")
    result = subprocess.run(
        [node, str(NODE_DIR / "flows.js")],
        env={
            **os.environ,
            "SECINFO_URL": server.url,
            "TWILIO_ACCOUNT_SID": sid,
            "TWILIO_AUTH_TOKEN": token,
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [word for flow in FLOWS for word in ("ok", flow)]
