"""The Verify API's two hot calls, ``POST /v1/verifications`` and ``…/{id}/check``,
answered without the framework's per-request work.

Every integrator's sign-in path crosses these two calls, and for them FastAPI's routing,
dependency solving, body validation and response validation cost more CPU than the
service itself. This ASGI layer answers a request itself only when it can tell the
framework would accept it as it stands: exactly these paths, no query string, a JSON
body that parses cleanly into exactly the fields the request models allow, every value
within their limits and free of control characters. Anything else (a malformed body, an
unknown field, a long value, a control character, a chunked body, a dependency
override in tests) goes on to the framework untouched, which answers its own way.

What it answers is built by the same code the routes use (``verifications.started`` /
``checked``, the API-key check, the error table and handlers in ``api/errors.py``) and
serialised by the same pydantic serialiser, so the bytes are the same:
``tests/contract/test_fast_verify_path.py`` compares both paths request for request.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, TypeGuard

from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secinfo.api import errors, schemas, verifications
from secinfo.api.dependencies import bearer_from
from secinfo.domain.errors import DomainError, InvalidApiKey
from secinfo.domain.model import ApiKeyScope
from secinfo.domain.text import bad_character
from secinfo.services import api_keys

START_PATH = "/v1/verifications"
# Verification ids are ``ver_`` and URL-safe base64; any other id goes the long way.
CHECK_PATH = re.compile(r"/v1/verifications/([A-Za-z0-9_-]{1,64})/check")
# ``StartRequest.locale``'s pattern (pydantic's ``$`` is the end of the text: fullmatch).
LOCALE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})
MAX_STRING = 4096  # schemas.Body's str_max_length

_VERIFICATION_OUT = TypeAdapter(schemas.VerificationOut)
_CHECK_OUT = TypeAdapter(schemas.CheckOut)


class _Duplicate(Exception):
    """A JSON object names a key twice: leave it to the framework."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise _Duplicate
    return document


def _document(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, _Duplicate):
        return None
    return document if isinstance(document, dict) else None


def _clean(value: Any, max_length: int) -> TypeGuard[str]:
    return (
        isinstance(value, str)
        and len(value) <= min(max_length, MAX_STRING)
        and bad_character(value) is None
    )


def start_fields(body: bytes) -> tuple[str, str, str, str | None] | None:
    """``(to, channel, locale, client_ip)`` when ``StartRequest`` accepts the body as it is."""
    document = _document(body)
    if document is None or not document.keys() <= {"to", "channel", "locale", "client_ip"}:
        return None
    to = document.get("to")
    channel = document.get("channel")
    locale = document.get("locale", "en")
    client_ip = document.get("client_ip")
    if not (_clean(to, 320) and _clean(channel, 5) and channel in ("sms", "email")):
        return None
    if not (_clean(locale, 16) and LOCALE.fullmatch(locale)):
        return None
    if client_ip is not None:
        if not _clean(client_ip, MAX_STRING):
            return None
        try:
            client_ip = str(ipaddress.ip_address(client_ip))
        except ValueError:
            return None
    return to, channel, locale, client_ip


def check_code(body: bytes) -> str | None:
    """The code when ``CodeRequest`` accepts the body as it is."""
    document = _document(body)
    if document is None or document.keys() != {"code"}:
        return None
    code = document["code"]
    return code if _clean(code, 32) else None


class FastVerifyPath:
    def __init__(self, app: ASGIApp, api: FastAPI, body_limit: int, enabled: bool = True) -> None:
        self.app = app
        self.api = api
        self.body_limit = body_limit
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            self.enabled
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("query_string")
            and not scope.get("root_path")
            and not self.api.dependency_overrides
        ):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        verification_id = None
        if path != START_PATH:
            match = CHECK_PATH.fullmatch(path)
            if match is None:
                await self.app(scope, receive, send)
                return
            verification_id = match[1]
        # Starlette's ``headers.get`` is the first of a repeated header; so here.
        content_type = authorization = length = None
        for name, value in scope["headers"]:
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-length" and length is None:
                length = value
        if (
            content_type is None
            or content_type.lower() not in JSON_TYPES
            or length is None
            or not length.isdigit()
            or int(length) > self.body_limit
        ):
            await self.app(scope, receive, send)
            return
        read = await read_body(receive, self.body_limit)
        if read is None:
            return  # the client went away (as BodyLimit does)
        body, more = read
        if more or len(body) > self.body_limit:
            await self._framework(scope, receive, send, body, more)
            return
        if verification_id is None:
            fields = start_fields(body)
            if fields is None:
                await self._framework(scope, receive, send, body, more)
                return
            response = await self._answer(authorization, fields, None)
        else:
            code = check_code(body)
            if code is None:
                await self._framework(scope, receive, send, body, more)
                return
            response = await self._answer(authorization, code, verification_id)
        await response(scope, receive, send)

    async def _answer(
        self,
        authorization: bytes | None,
        fields: tuple[str, str, str, str | None] | str,
        verification_id: str | None,
    ) -> Response:
        deps = self.api.state.secinfo.deps
        try:
            token = bearer_from(authorization.decode("latin-1") if authorization else None)
            if token is None:
                raise InvalidApiKey()
            api_key = await api_keys.authenticate_scope(deps, token, ApiKeyScope.VERIFICATION)
            if verification_id is None:
                assert isinstance(fields, tuple)
                started = await verifications.started(deps, api_key, *fields)
                content = _VERIFICATION_OUT.dump_json(started, by_alias=True)
                return Response(content, status_code=201, media_type="application/json")
            assert isinstance(fields, str)
            checked = await verifications.checked(deps, api_key, verification_id, fields)
            content = _CHECK_OUT.dump_json(checked, by_alias=True)
            return Response(content, status_code=200, media_type="application/json")
        except DomainError as error:
            return errors.domain_error_response(error)
        except IntegrityError as error:
            return errors.integrity_error_response(error)
        # Anything else propagates to the framework's outermost layer, which logs it and
        # answers 500 as for every route.

    async def _framework(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, more: bool
    ) -> None:
        """The framework answers, reading the body as if nothing had read it before."""
        await self.app(scope, replaying(body, receive, more=more), send)


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The request body, read until it ends or passes ``limit`` bytes: ``(body, more)``,
    ``more`` when the client has more to send; None when the client went away."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), more


def replaying(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    """A ``receive`` that gives ``body`` (already read) first, then what ``receive`` gives."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay
