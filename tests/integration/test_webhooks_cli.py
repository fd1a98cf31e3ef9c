"""``secinfo webhooks`` and ``secinfo apikey create --scope admin``, as real processes."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import run_cli


def test_webhooks_add_prints_the_secret_once_and_the_other_commands_steer_it(
    tmp_path: Path,
) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    added = run_cli(
        tmp_path,
        "webhooks",
        "add",
        "https://hooks.example.com/secinfo",
        "--events",
        "account:security_info:*",
        "account:sign_in:failure",
    )
    assert added.returncode == 0, added.stdout + added.stderr
    secret = next(line for line in added.stdout.splitlines() if line.startswith("whsec_"))
    endpoint_id = next(word for word in added.stdout.split() if word.startswith("whe_"))
    assert "account:security_info:*, account:sign_in:failure" in added.stdout

    listed = run_cli(tmp_path, "webhooks", "list")
    assert listed.returncode == 0
    assert endpoint_id in listed.stdout and "https://hooks.example.com/secinfo" in listed.stdout
    assert secret not in listed.stdout and secret[6:20] not in listed.stdout

    tested = run_cli(tmp_path, "webhooks", "test", endpoint_id)
    assert tested.returncode == 0, tested.stdout
    delivery_id = next(word for word in tested.stdout.split() if word.startswith("msg_"))
    deliveries = run_cli(tmp_path, "webhooks", "deliveries", endpoint_id)
    assert delivery_id in deliveries.stdout and "webhook.test" in deliveries.stdout
    assert "queued" in deliveries.stdout
    not_dead = run_cli(tmp_path, "webhooks", "redeliver", endpoint_id, delivery_id)
    assert not_dead.returncode == 1
    assert "only a dead or failed one" in not_dead.stdout

    rotated = run_cli(tmp_path, "webhooks", "rotate-secret", endpoint_id, "--overlap", "2h")
    assert rotated.returncode == 0, rotated.stdout
    new_secret = next(line for line in rotated.stdout.splitlines() if line.startswith("whsec_"))
    assert new_secret != secret and "signs too until" in rotated.stdout

    disabled = run_cli(tmp_path, "webhooks", "disable", endpoint_id)
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    refused = run_cli(tmp_path, "webhooks", "test", endpoint_id)
    assert refused.returncode == 1 and "Enable the endpoint first" in refused.stdout

    typo = run_cli(tmp_path, "webhooks", "add", "https://x.example/h", "--events", "acount:*")
    assert typo.returncode == 1
    assert "'acount:*' matches no event type" in typo.stdout
    credentials = run_cli(tmp_path, "webhooks", "add", "https://u:p@x.example/h", "--events", "*")
    assert credentials.returncode == 1 and "credentials" in credentials.stdout


def test_apikey_create_with_the_admin_scope(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    created = run_cli(tmp_path, "apikey", "create", "operations", "--scope", "admin")
    assert created.returncode == 0, created.stderr
    assert "scope admin" in created.stdout
    plain = run_cli(tmp_path, "apikey", "create", "shop")
    assert "scope verification" in plain.stdout
    listed = run_cli(tmp_path, "apikey", "list")
    assert "admin" in listed.stdout and "verification" in listed.stdout
    wrong = run_cli(tmp_path, "apikey", "create", "x", "--scope", "root")
    assert wrong.returncode == 2
