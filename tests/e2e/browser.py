"""Browser tests' harness: a real ``secinfo serve``, Debian's Chromium driven by Playwright,
the development mailbox page read as a person reads it, screenshots and axe-core.

Locally, a missing Chromium, Playwright or axe-core skips these tests with the command
that installs it; with SECINFO_TEST_REQUIRE_SERVICES=1 (CI) it is a failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from secinfo.domain.contacts import mask, normalize_contact
from tests.support import REQUIRE_SERVICES, code_in, generous_limits

CHROMIUM = os.environ.get("SECINFO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "tests/e2e/axe/node_modules/axe-core/axe.min.js"
SCREENSHOTS = ROOT / "test-output/screenshots"
SECRET = "browser-test-secret-" + "y" * 40
PASSWORD = "a long passphrase 1"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def missing(what: str, how: str) -> None:
    message = f"{what} is missing: {how}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (SECINFO_TEST_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    url: str
    folder: Path
    database_url: str
    process: subprocess.Popen[str]

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """What a second process on the same database needs (the tests' own App)."""
        return {
            "database_url": self.database_url,
            "data_dir": self.folder,
            "secret_key": SECRET,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8192,
            "rate_limits": generous_limits(),
            "public_url": self.url,
            **overrides,
        }


def wait_for_code(client: httpx.Client, to: str) -> str:
    """The in-process delivery loop fills the mailbox within moments."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = client.get("/dev/mailbox.json", params={"to": to}).json()["messages"]
        if messages:
            return code_in(messages[0]["body"])
        time.sleep(0.1)
    raise AssertionError(f"no message reached {to}")


def start_server(
    folder: Path,
    *,
    resend_cooldown_seconds: int = 30,
    host_name: str = "127.0.0.1",
    database_url: str | None = None,
) -> Server:
    """``secinfo serve`` on ``database_url`` (a fresh SQLite file in ``folder`` unless
    given), development mode, generous limits, cheap password hashing. ``host_name`` is
    the name the pages are opened by (it listens on 127.0.0.1): ``localhost`` for
    passkeys, whose relying-party id cannot be an IP address."""
    port = free_port()
    url = f"http://{host_name}:{port}"
    database_url = database_url or f"sqlite:///{folder}/secinfo.db"
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(folder),
        "SECINFO_DATABASE_URL": database_url,
        "SECINFO_SECRET_KEY": SECRET,
        "SECINFO_ARGON2_TIME_COST": "1",
        "SECINFO_ARGON2_MEMORY_KIB": "8192",
        "SECINFO_RATE_LIMITS": json.dumps(generous_limits()),
        "SECINFO_PUBLIC_URL": url,
        "SECINFO_RESEND_COOLDOWN_SECONDS": str(resend_cooldown_seconds),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "secinfo", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, folder, database_url, process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"secinfo serve did not start: {process.communicate()[0]}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()


def launch_browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing(
            f"Chromium ({CHROMIUM})",
            "install Debian's browser with `apt-get install -y chromium chromium-driver`",
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing(
            "Playwright for Python", "run `make test` (or `.venv/bin/pip install -e '.[test]'`)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Person:
    """One browser window (its own cookies), and a second tab on the mailbox page."""

    server: Server
    context: Any
    page: Any
    mail: Any
    seen: dict[str, int] = field(default_factory=dict)

    def go(self, path: str) -> None:
        self.page.goto(self.server.url + path)

    def messages(self, to: str) -> list[str]:
        """Open the development mailbox, filtered to ``to``, as a person would."""
        self.mail.goto(self.server.url + "/dev/mailbox")
        self.mail.get_by_label("Show messages to").fill(to)
        self.mail.get_by_role("button", name="Show").click()
        return [text for text in self.mail.locator("article.message pre").all_inner_texts()]

    def wait_for_message(self, to: str) -> str:
        """The newest message to ``to`` that arrived since the last one read."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = self.messages(to)
            if len(found) > self.seen.get(to, 0):
                self.seen[to] = len(found)
                return found[0]
            time.sleep(0.25)
        raise AssertionError(f"no new message reached {to}")

    def code_for(self, to: str) -> str:
        return code_in(self.wait_for_message(to))

    def type_code(self, to: str) -> None:
        self.page.get_by_label("Code", exact=True).fill(self.code_for(to))
        self.page.get_by_role("button", name="Verify").click()


def new_person(browser: Any, server: Server, *, phone: bool = False) -> Person:
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP, bypass_csp=True, locale="en-US"
    )
    context.set_default_timeout(15_000)
    return Person(server, context, context.new_page(), context.new_page())


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical findings of axe-core on the page as it is now."""
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return [item for item in found if item["impact"] in ("serious", "critical")]


def check_page(page: Any, name: str) -> None:
    """Screenshots at desktop and phone width, and no serious accessibility problem."""
    if not AXE_JS.exists():
        missing("axe-core", "run `npm ci --prefix tests/e2e/axe` (needs node and npm)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    violations = axe_violations(page)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    violations += axe_violations(page)
    page.set_viewport_size(size)
    assert not violations, f"{name}: accessibility problems {json.dumps(violations, indent=1)}"


def sign_up(person: Person, email: str, *, check: bool = False) -> None:
    page = person.page
    person.go("/sign-up")
    page.get_by_label("Email address or phone number").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    if check:
        check_page(page, "sign-up")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Enter the code to finish signing up").wait_for()
    if check:
        check_page(page, "code")
    person.type_code(email)
    page.get_by_role("heading", name="Security basics").wait_for()


def sign_in(person: Person, name: str, password: str = PASSWORD) -> None:
    page = person.page
    person.go("/sign-in")
    page.get_by_label("Email address or phone number").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def step_up(person: Person, to: str) -> None:
    """On the 'Verify your identity' page: send a code to ``to`` and type it back."""
    page = person.page
    page.get_by_role("heading", name="Verify your identity").wait_for()
    page.get_by_label(re.compile(re.escape(masked(to)))).check()
    page.get_by_role("button", name="Send code").click()
    person.type_code(to)


def masked(contact: str) -> str:
    channel, value = normalize_contact(contact)
    return mask(channel, value)


def link_in(body: str) -> str:
    found = re.search(r"https?://\S+/pending-changes/chg_[0-9a-f]+", body)
    assert found, body
    return found.group(0)
