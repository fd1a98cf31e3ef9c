"""``secinfo operator``: create, list and remove operator accounts, as a real process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import auth, running_app
from tests.integration.test_cli import run_cli

pytestmark = pytest.mark.anyio


async def test_operator_create_marks_only_a_verified_active_account(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    async with running_app(url, tmp_path) as harness:
        token = await harness.sign_up("olga@example.com")
        unverified = await harness.client.post(
            "/v1/accounts", json={"sign_in_name": "una@example.com", "password": "a long pass 12"}
        )
        assert unverified.status_code == 202

    created = run_cli(tmp_path, "operator", "create", "Olga@Example.com")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "ol*****@example.com" in created.stdout and "is now an operator" in created.stdout
    assert "olga@example.com" not in created.stdout  # the contact is masked
    again = run_cli(tmp_path, "operator", "create", "olga@example.com")
    assert again.returncode == 0 and "is an operator already" in again.stdout

    for name in ("una@example.com", "nobody@example.com"):
        refused = run_cli(tmp_path, "operator", "create", name)
        assert refused.returncode == 1, refused.stdout
        assert "No account signs in with that name" in refused.stdout
        assert "finish the sign-up first" in refused.stdout

    listed = run_cli(tmp_path, "operator", "list")
    assert listed.returncode == 0
    assert "ol*****@example.com" in listed.stdout and "acc_" in listed.stdout
    assert "un*****" not in listed.stdout

    removed = run_cli(tmp_path, "operator", "remove", "olga@example.com")
    assert removed.returncode == 0 and "is no longer an operator" in removed.stdout
    assert "No account is an operator" in run_cli(tmp_path, "operator", "list").stdout
    missing = run_cli(tmp_path, "operator", "remove", "olga@example.com")
    assert missing.returncode == 1 and "is not an operator" in missing.stdout

    # Each change is on the account's activity (once: "again" changed nothing) and the
    # holder was told on their contact.
    async with running_app(url, tmp_path, fresh=False) as harness:
        events = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()
        types = [event["type"] for event in events["events"]]
        assert types.count("account:operator:granted") == 1, types
        assert types.count("account:operator:revoked") == 1, types
        granted = next(e for e in events["events"] if e["type"] == "account:operator:granted")
        assert granted["details"]["by"] == "cli"
        subjects = [message["subject"] for message in await harness.mailbox("olga@example.com")]
        assert any("can now use the operator pages" in subject for subject in subjects), subjects
        assert any("no longer uses the operator pages" in subject for subject in subjects)
