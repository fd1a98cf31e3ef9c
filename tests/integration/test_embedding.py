"""secinfo as a Python library: its ASGI app mounted in another application, and its
services called directly with the ``Deps`` that ``bootstrap.build`` makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from secinfo.adapters.migrations import migrate
from secinfo.api.app import create_app
from secinfo.bootstrap import build
from secinfo.domain.model import RequestContext
from secinfo.services import accounts, security_info
from tests.conftest import empty_tables, make_settings
from tests.support import MovableClock, code_in

pytestmark = pytest.mark.anyio


async def test_mounted_in_another_fastapi_app(database_url: str, tmp_path: Path) -> None:
    secinfo = build(make_settings(database_url, tmp_path))
    await (migrate(secinfo.engine) if database_url.startswith("sqlite") else empty_tables(secinfo))
    identity = create_app(secinfo, run_delivery=True)

    # The host application runs secinfo's lifespan inside its own (Starlette does not run
    # a mounted app's lifespan): the delivery loop starts and secinfo closes with it.
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with identity.router.lifespan_context(identity):
            yield

    shop = FastAPI(lifespan=lifespan)

    @shop.get("/shop/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "shop"}

    shop.mount("/", identity)  # last: the host's own routes come first

    transport = httpx.ASGITransport(app=shop, client=("203.0.113.9", 5000))
    client = httpx.AsyncClient(transport=transport, base_url="http://shop.test")
    async with shop.router.lifespan_context(shop), client:
        assert (await client.get("/shop/hello")).json() == {"hello": "shop"}
        started = await client.post(
            "/v1/accounts",
            json={"sign_in_name": "ivy@example.com", "password": "a long passphrase 1"},
        )
        assert started.status_code == 202, started.text
        # The in-process delivery loop (from the lifespan) fills the mailbox.
        for _ in range(100):
            found = (
                await client.get("/dev/mailbox.json", params={"to": "ivy@example.com"})
            ).json()["messages"]
            if found:
                break
            await asyncio.sleep(0.05)
        assert found, "the delivery loop started by the host's lifespan sent nothing"
        confirmed = await client.post(
            "/v1/accounts/confirm",
            json={
                "verification_id": started.json()["verification_id"],
                "code": code_in(found[0]["body"]),
            },
        )
        assert confirmed.status_code == 201, confirmed.text
        page = await client.get("/sign-in")
        assert page.status_code == 200 and "<form" in page.text
        missing = await client.get("/v1/nothing-here")
        assert missing.json()["error"]["code"] == "not_found"


async def test_services_called_from_python(database_url: str, tmp_path: Path) -> None:
    app = build(make_settings(database_url, tmp_path), clock=MovableClock())
    try:
        await (migrate(app.engine) if database_url.startswith("sqlite") else empty_tables(app))
        context = RequestContext(ip="198.51.100.4", user_agent="my-backend/1.0")
        started = await accounts.sign_up(
            app.deps, "lib@example.com", "a long passphrase 1", context
        )
        while await app.deliverer.deliver_due():
            pass
        assert app.mailbox is not None
        message = (await app.mailbox.list_messages("lib@example.com"))[0]
        opened = await accounts.confirm_sign_up(
            app.deps, started.verification_id, code_in(message.body), context
        )
        session = await accounts.authenticate(app.deps, opened.token)
        items = await security_info.list_info(app.deps, session.account_id)
        assert [(item.kind.value, item.masked) for item in items] == [
            ("email", "li*****@example.com")
        ]
    finally:
        await app.close()
