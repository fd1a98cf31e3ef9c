"""``secinfo serve`` as a newcomer starts it: a real process, real HTTP on a socket."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.browser import wait_for_code


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(folder),
        "SECINFO_DATABASE_URL": f"sqlite:///{folder}/secinfo.db",
        "SECINFO_ARGON2_MEMORY_KIB": "8192",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "secinfo", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"secinfo serve did not start: {process.communicate()[0]}")
    yield url
    process.terminate()
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output  # a clean stop, not death by the re-raised signal
    assert "Application shutdown complete" in output
    assert output.rstrip().endswith("secinfo stopped."), output
    # The banner: aligned, one line per URL, links following the chosen port; no Alembic
    # chatter on start.
    # Pages are named localhost (the default web domain, so passkeys work); it listens on
    # the loopback address.
    pages = url.replace("127.0.0.1", "localhost")
    assert f"  Listening on   {url}\n" in output, output
    assert f"  Pages          {pages}/\n" in output, output
    assert f"  Mailbox        {pages}/dev/mailbox" in output, output
    assert "Context impl" not in output and "Will assume" not in output, output


def test_health_readiness_and_openapi(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "database": "ok"}
        spec = client.get("/openapi.json").json()
        assert "/v1/verifications" in spec["paths"]
        assert "/v1/me/security-info" in spec["paths"]
        page = client.get("/dev/mailbox")
        assert page.status_code == 200
        assert "Development mailbox" in page.text


def test_a_newcomer_signs_up_and_an_integrator_verifies(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        started = client.post(
            "/v1/accounts",
            json={"sign_in_name": "newcomer@example.com", "password": "a long passphrase 1"},
        )
        assert started.status_code == 202
        code = wait_for_code(client, "newcomer@example.com")
        assert re.fullmatch(r"\d{6}", code)
        confirmed = client.post(
            "/v1/accounts/confirm",
            json={"verification_id": started.json()["verification_id"], "code": code},
        )
        assert confirmed.status_code == 201
        token = confirmed.json()["token"]
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["security_info"][0]["value"] == "ne*****@example.com"
