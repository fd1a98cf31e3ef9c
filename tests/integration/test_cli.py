"""The operator's CLI: migrate and API keys, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_SECRET


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "SECINFO_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "SECINFO_DATA_DIR": str(tmp_path),
        "SECINFO_SECRET_KEY": TEST_SECRET,
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "secinfo", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=environment,
        timeout=60,
        check=False,
    )


def test_apikey_create_prints_the_key_once_and_list_never_shows_it(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    created = run_cli(tmp_path, "apikey", "create", "shop backend")
    assert created.returncode == 0, created.stderr
    key = next(line for line in created.stdout.splitlines() if line.startswith("sik_"))
    assert len(key) > 40

    listed = run_cli(tmp_path, "apikey", "list")
    assert listed.returncode == 0
    assert "shop backend" in listed.stdout
    assert key not in listed.stdout
    assert key[:10] in listed.stdout  # the prefix identifies it

    key_id = next(word for word in created.stdout.split() if word.startswith("(key_")).strip("():")
    revoked = run_cli(tmp_path, "apikey", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "Revoked" in revoked.stdout
    missing = run_cli(tmp_path, "apikey", "revoke", "key_nope")
    assert missing.returncode == 1
    assert "No API key with that id" in missing.stdout


def test_bad_configuration_is_named_clearly(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "migrate", env={"SECINFO_CODE_LENGTH": "12"})
    assert result.returncode == 2
    assert "SECINFO_CODE_LENGTH" in result.stdout
    production = run_cli(tmp_path, "migrate", env={"SECINFO_ENV": "production"})
    assert production.returncode == 2
    assert (
        "SECINFO_SECRET_KEY" in production.stdout or "SECINFO_ENCRYPTION_KEYS" in production.stdout
    )


def test_migrate_twice_is_harmless(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    again = run_cli(tmp_path, "migrate")
    assert again.returncode == 0
    assert "up to date" in again.stdout
