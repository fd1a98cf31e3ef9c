"""Pages fail with a page; the API, files, health and metrics keep their JSON errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from secinfo.adapters.migrations import migrate
from secinfo.api.app import create_app
from secinfo.bootstrap import build
from tests.conftest import Harness, make_settings
from tests.support import MovableClock

pytestmark = pytest.mark.anyio


async def test_an_unknown_page_is_a_friendly_404_page(harness: Harness) -> None:
    for path in ("/no-such-page", "/security/no-such-thing", "/docsx"):
        response = await harness.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Page not found</h1>" in response.text
        assert "script-src 'self';" in response.headers["content-security-policy"]
        assert "unsafe" not in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path",
    ["/v1/no-such-thing", "/static/no-such-file.css", "/dev/mailbox.json/x", "/healthz/x"],
)
async def test_api_paths_keep_their_json_errors(harness: Harness, path: str) -> None:
    response = await harness.client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_wrong_method_on_a_page_is_a_page(harness: Harness) -> None:
    response = await harness.client.get("/sign-up/confirm")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "POST" in response.headers["allow"]


async def test_an_unexpected_error_is_a_500_page_on_pages_and_json_on_the_api(
    tmp_path: Path,
) -> None:
    app = build(make_settings(f"sqlite:///{tmp_path}/secinfo.db", tmp_path), clock=MovableClock())
    await migrate(app.engine)
    api = create_app(app)

    async def broken() -> None:
        raise RuntimeError("a bug")

    api.add_api_route("/broken-page", broken)
    api.add_api_route("/v1/broken", broken)
    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://secinfo.test") as client:
            page = await client.get("/broken-page")
            assert page.status_code == 500
            assert page.headers["content-type"].startswith("text/html")
            assert "<h1>Something went wrong</h1>" in page.text
            assert "a bug" not in page.text
            answer = await client.get("/v1/broken")
            assert answer.status_code == 500
            assert answer.json()["error"]["code"] == "internal_error"
    finally:
        await app.close()
