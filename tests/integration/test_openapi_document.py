"""The OpenAPI document describes the service as it answers: its security schemes, and
the error statuses of each operation with the one ``{"error": …}`` schema (see
tests/e2e/test_openapi_conformance.py for the generated requests that check it)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_the_document_has_security_schemes_and_the_real_error_body(
    harness: Harness,
) -> None:
    document = (await harness.client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }

    assert set(document["components"]["securitySchemes"]) == {"session", "apiKey", "adminKey"}
    assert "HTTPValidationError" not in json.dumps(document)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]

    me = operations[("GET", "/v1/me")]
    assert me["security"] == [{"session": []}]
    assert {"401", "403", "422"} <= set(me["responses"])
    start = operations[("POST", "/v1/verifications")]
    assert start["security"] == [{"apiKey": []}]
    assert {"400", "401", "409", "413", "422", "429", "503"} <= set(start["responses"])
    assert "Retry-After" in start["responses"]["429"]["headers"]
    check = operations[("POST", "/v1/verifications/{verification_id}/check")]
    assert "404" in check["responses"]
    assert operations[("POST", "/v1/accounts")].get("security") is None
    assert operations[("GET", "/v1/admin/webhooks")]["security"] == [{"adminKey": []}]
    for (method, path), operation in operations.items():
        for status, response in operation["responses"].items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
