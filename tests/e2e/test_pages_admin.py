"""The operator pages in a real browser: an operator account (made with the CLI) signs
in, is asked for a code before /admin, finds an account and locks it, looks at the
delivery log, the blocked prefixes, the webhooks and the API keys. axe on every page."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx

from tests.e2e.browser import (
    PASSWORD,
    SECRET,
    Server,
    check_page,
    new_person,
    sign_in,
    sign_up,
    step_up,
)

OPERATOR = "opal.operator@example.com"
HOLDER = "henrik.holder@example.com"


def cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """``secinfo`` on the served database, as the operator runs it."""
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(server.folder),
        "SECINFO_DATABASE_URL": server.database_url,
        "SECINFO_SECRET_KEY": SECRET,
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "-m", "secinfo", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_an_operator_uses_the_operator_pages(browser: Any, web_server: Server) -> None:
    holder = new_person(browser, web_server)
    sign_up(holder, HOLDER)
    holder.go("/admin")
    holder.page.get_by_role("heading", name="Page not found").wait_for()
    holder.context.close()

    person = new_person(browser, web_server)
    sign_up(person, OPERATOR)
    cli(web_server, "operator", "create", OPERATOR)
    cli(web_server, "apikey", "create", "shop backend")
    page = person.page
    page.get_by_role("button", name="Sign out").click()
    sign_in(person, OPERATOR)
    page.get_by_role("heading", name="Security basics").wait_for()

    person.go("/admin")
    assert "/security/verify?next=/admin" in page.url
    step_up(person, OPERATOR)
    page.get_by_role("heading", name="Operator pages", level=1).wait_for()
    check_page(page, "admin-overview")

    page.get_by_label("Sign-in name").fill(HOLDER)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("heading", name="Found").wait_for()
    check_page(page, "admin-accounts")
    page.get_by_role("link", name="he*****@example.com").click()
    page.get_by_role("heading", name="Recent activity").wait_for()
    check_page(page, "admin-account")
    page.get_by_label("Reason (optional)").fill("reported stolen")
    page.get_by_role("button", name="Lock the account").click()
    page.get_by_text("The account is locked").wait_for()
    assert page.get_by_text("By operator op*****@example.com").first.is_visible()
    check_page(page, "admin-account-locked")
    refused = httpx.post(
        f"{web_server.url}/v1/sessions", json={"sign_in_name": HOLDER, "password": PASSWORD}
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "account_locked"

    page.get_by_role("navigation", name="Operator pages").get_by_role(
        "link", name="Delivery log"
    ).click()
    page.get_by_role("heading", name="Delivery log", level=1).wait_for()
    assert "he*****@example.com" in page.content()
    assert HOLDER not in page.content()
    check_page(page, "admin-delivery-log")
    page.get_by_label("Status").select_option("sent")
    page.get_by_role("button", name="Show").click()
    page.get_by_text("with status sent").first.wait_for()
    assert "status=sent" in page.url

    page.get_by_role("link", name="Blocked SMS prefixes").click()
    page.get_by_text("No prefix is blocked.").wait_for()
    check_page(page, "admin-prefixes")

    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("heading", name="Webhook endpoints", level=1).wait_for()
    check_page(page, "admin-webhooks")

    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys", level=1).wait_for()
    assert page.get_by_role("cell", name="shop backend", exact=True).is_visible()
    check_page(page, "admin-api-keys")
    page.get_by_label("Name").fill("support desk")
    page.get_by_label("admin: the admin API (/v1/admin)").check()
    page.get_by_role("button", name="Create key").click()
    key = page.locator(".created-key code").inner_text()
    assert key.startswith("sik_")
    check_page(page, "admin-api-key-created")
    page.get_by_role("button", name="Revoke shop backend").click()
    page.get_by_text("The API key is revoked").wait_for()
    assert page.get_by_role("button", name="Revoke shop backend").count() == 0
    assert key not in page.content()
    person.context.close()
