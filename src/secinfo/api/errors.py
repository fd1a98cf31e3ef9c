"""The ``{"error": {...}}`` body for every error, with the HTTP status from the one table
in :mod:`secinfo.http`."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from secinfo.domain import errors
from secinfo.http import status_for

log = structlog.get_logger("secinfo.api")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def domain_error_response(error: errors.DomainError) -> JSONResponse:
    body = error.to_dict()
    headers = None
    if "retry_after" in body:
        headers = {"Retry-After": str(body["retry_after"])}
    return JSONResponse({"error": body}, status_code=status_for(error), headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.DomainError)
    async def domain_error(_: Request, error: errors.DomainError) -> JSONResponse:
        return domain_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        if any(problem.get("type") == "json_invalid" for problem in problems):
            return error_response(400, "malformed_json", "The request body is not valid JSON.")
        fields = [
            {"field": _field_name(tuple(problem.get("loc", ()))), "message": problem["msg"]}
            for problem in problems
        ]
        summary = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
        return error_response(422, "invalid_input", f"Check these fields: {summary}", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
        return error_response(
            error.status_code,
            codes.get(error.status_code, "http_error"),
            str(error.detail),
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, error: IntegrityError) -> JSONResponse:
        return integrity_error_response(error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        return unexpected_error_response(request.url.path)


def integrity_error_response(error: IntegrityError) -> JSONResponse:
    log.info("request.integrity_conflict", error=type(error.orig).__name__)
    return error_response(
        409,
        "conflict",
        "The change conflicts with another one made at the same time; try again.",
    )


def unexpected_error_response(path: str) -> JSONResponse:
    """Logged with the exception being handled (call it from an ``except`` block)."""
    log.exception("request.unexpected_error", path=path)
    return error_response(
        500, "internal_error", "Something went wrong on our side; nothing was changed."
    )
