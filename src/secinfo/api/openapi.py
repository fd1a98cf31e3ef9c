"""The OpenAPI document as the service really answers: security schemes, and every
error status an operation can give with the ``{"error": {...}}`` body it gives.

FastAPI documents a route's success, its security (the bearer schemes of
``api.dependencies``) and its own 422 shape (``{"detail": …}``, which this service never
sends). ``install`` replaces the 422 and adds, for each operation, the error statuses
that follow from what it takes and needs (a body, a path id, a session or API key, a
write), each with the one error schema. A route can declare more with FastAPI's own
``responses=``; those are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable and machine-readable: `invalid_input`, "
                    "`rate_limited`, `step_up_required`, … (see docs/api.md).",
                },
                "message": {"type": "string", "description": "What is wrong and what to do."},
                "retry_after": {
                    "type": "integer",
                    "description": "Seconds to wait (429, some 503); also in `Retry-After`.",
                },
                "fields": {
                    "type": "array",
                    "description": "422: each field that is wrong, and why.",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
            "additionalProperties": True,
        }
    },
}

WHY: dict[int, str] = {
    400: "The body is not valid JSON, or a code is wrong (`invalid_code`).",
    401: "No valid session, API key or password (`unauthenticated`, `invalid_api_key`, "
    "`invalid_credentials`).",
    403: "Allowed only after a step-up, or not in this state (`step_up_required`, …).",
    404: "Nothing with this id (or it has ended): `not_found`.",
    409: "Conflicts with the current state or a change made at the same time.",
    413: "The body is larger than the service accepts (`body_too_large`).",
    422: "A field or parameter is wrong: `invalid_input`, with `fields`.",
    429: "A limit was reached: wait `retry_after` seconds (`rate_limited`, …).",
    503: "A part the service needs is unavailable, or too many passwords are being checked "
    "(`overloaded`); try again after `Retry-After`.",
}

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer with, from what it takes and needs."""
    statuses = {422}  # control characters in any path or query are refused
    if "requestBody" in operation:
        statuses |= {400, 413}
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
        statuses.add(404)
    if operation.get("security"):
        statuses |= {401, 403}
    if method.upper() in WRITES:
        statuses |= {400, 401, 403, 404, 409, 429, 503}
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": WHY.get(status, "An error."),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        }
    return response


def build_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, operation)):
                declared = responses.get(str(status))
                if declared is None or "HTTPValidationError" in str(declared):
                    responses[str(status)] = _error_response(status)
            for status, declared in responses.items():
                # An error a route declares itself (``responses=``) has the error body.
                if status[0] in "45":
                    for part, value in _error_response(int(status)).items():
                        declared.setdefault(part, value)
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
