"""The OpenAPI document is what the service does: schemathesis generates requests for
every operation from the document alone, against ``secinfo serve`` on SQLite and on
PostgreSQL, and checks that no answer is a server error, that every status is one the
operation documents, and that every body matches its documented schema (the errors'
``{"error": …}`` included).

A bounded run (a few examples per operation) so that it fits the test suite; the
operations that need a session get a signed-in account's token, those that need an API
key an integrator's key, the admin API an admin key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.browser import Server, start_server, stop_server, wait_for_code
from tests.support import PostgresDatabase, unavailable

EXAMPLES = int(os.environ.get("SECINFO_TEST_API_EXAMPLES", "6"))
PASSWORD = "a long schema-fuzzing passphrase 1"


@dataclass
class Served:
    server: Server
    api_key: str
    admin_key: str
    name: str
    token: str = ""

    def session_token(self) -> str:
        """A token that still works: a generated case may have signed it out."""
        if self.token:
            me = httpx.get(
                f"{self.server.url}/v1/me", headers={"Authorization": f"Bearer {self.token}"}
            )
            if me.status_code == 200:
                return self.token
        signed_in = httpx.post(
            f"{self.server.url}/v1/sessions",
            json={"sign_in_name": self.name, "password": PASSWORD},
        )
        assert signed_in.status_code == 201, signed_in.text
        self.token = signed_in.json()["token"]
        return self.token


def _api_key(server: Server, *scope: str) -> str:
    environment = {
        **os.environ,
        "SECINFO_DATA_DIR": str(server.folder),
        "SECINFO_DATABASE_URL": server.database_url,
        "SECINFO_SECRET_KEY": server.settings()["secret_key"],
    }
    created = subprocess.run(
        [sys.executable, "-m", "secinfo", "apikey", "create", "conformance", *scope],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    key = next(line for line in created.stdout.splitlines() if line.startswith("sik_"))
    return key.strip()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    database = None
    if request.param == "postgresql":
        database = PostgresDatabase()
        try:
            database.create()
        except Exception as error:
            unavailable("PostgreSQL", error)
    server = start_server(
        tmp_path_factory.mktemp("conformance"),
        database_url=database.url if database else None,
        host_name="localhost",  # passkeys on: their relying-party id cannot be an IP
    )
    try:
        name = "holder@example.com"
        with httpx.Client(base_url=server.url) as client:
            started = client.post("/v1/accounts", json={"sign_in_name": name, "password": PASSWORD})
            assert started.status_code == 202, started.text
            confirmed = client.post(
                "/v1/accounts/confirm",
                json={
                    "verification_id": started.json()["verification_id"],
                    "code": wait_for_code(client, name),
                },
            )
            assert confirmed.status_code == 201, confirmed.text
        yield Served(
            server,
            _api_key(server),
            _api_key(server, "--scope", "admin"),
            name,
            confirmed.json()["token"],
        )
    finally:
        stop_server(server)
        if database is not None:
            database.drop()


def check_operation(operation: Any, served: Served) -> None:
    """A few generated requests to one operation, each answer checked."""
    security = operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def answers_as_documented(case: Any) -> None:
        headers: dict[str, str] = {}
        if "session" in schemes:
            headers["Authorization"] = f"Bearer {served.session_token()}"
        elif "apiKey" in schemes:
            headers["Authorization"] = f"Bearer {served.api_key}"
        elif "adminKey" in schemes:
            headers["Authorization"] = f"Bearer {served.admin_key}"
        response = case.call(headers=headers, timeout=30)
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
        )

    answers_as_documented()


def test_every_operation_answers_as_its_document_says(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.server.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            check_operation(operation, served)
        except (Exception, BaseExceptionGroup) as error:  # every operation is tried, all listed
            failures[operation.label] = str(error)[:1500]
    assert operations >= 40, f"only {operations} operations in the document"
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
