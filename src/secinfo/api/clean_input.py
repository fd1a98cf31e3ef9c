"""Refuse control characters where requests enter (one dependency on every route).

A path that carries one names nothing: 404. A query parameter, a JSON value or key, or a
form field that carries one: 422 ``invalid_input`` naming the field. Only the billing
profile (opaque JSON an integrator keeps here) may hold line breaks in its strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError

from secinfo.domain.text import bad_character, describe

# Route paths (as declared) whose JSON strings may carry tab, newline and return.
LINE_BREAKS_ALLOWED = frozenset({"/v1/accounts/{account_id}/billing"})


def _strings(
    value: Any, location: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        yield location, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*location, "<key>"), str(key)
            yield from _strings(item, (*location, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*location, index))


def _problem(location: tuple[str | int, ...], character: str) -> dict[str, Any]:
    return {
        "type": "control_character",
        "loc": location,
        "msg": f"must not contain control characters (found {describe(character)})",
        "input": None,
    }


async def refuse_control_characters(request: Request) -> None:
    if bad_character(request.url.path) or any(
        isinstance(value, str) and bad_character(value) for value in request.path_params.values()
    ):
        raise HTTPException(404, "Nothing was found at this address.")
    problems = [
        _problem(("query", key), found)
        for key, value in request.query_params.multi_items()
        for found in [bad_character(key) or bad_character(value)]
        if found
    ]
    if problems:
        raise RequestValidationError(problems)
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return
    problems = []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = (await request.body()).decode("utf-8", "replace")
        fields = parse_qsl(body, keep_blank_values=True)
        problems = [
            _problem(("body", key), found)
            for key, value in fields
            for found in [bad_character(key) or bad_character(value)]
            if found
        ]
    elif content_type.endswith("json"):
        try:
            document = json.loads(await request.body())
        except ValueError:
            return  # malformed JSON is answered by the body's own parsing
        route = request.scope.get("route")
        line_breaks = getattr(route, "path", None) in LINE_BREAKS_ALLOWED
        problems = [
            _problem(("body", *location), found)
            for location, value in _strings(document, ())
            for found in [
                bad_character(value, allow_line_breaks=line_breaks and location[-1:] != ("<key>",))
            ]
            if found
        ]
    if problems:
        raise RequestValidationError(problems)
