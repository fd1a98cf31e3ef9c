"""The API reference at /docs renders from packaged files: no request leaves the server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.e2e.browser import Server


def test_the_api_reference_loads_with_no_outside_request(web_server: Server, browser: Any) -> None:
    served = urlsplit(web_server.url).netloc
    requested: list[str] = []
    outside: list[str] = []
    context = browser.new_context()
    page = context.new_page()

    def watch(route: Any) -> None:
        url = route.request.url
        requested.append(url)
        if urlsplit(url).netloc != served:
            outside.append(url)
            route.abort()  # as a machine without internet would
        else:
            route.continue_()

    page.route("**/*", watch)
    page.goto(f"{web_server.url}/docs")
    # Swagger UI has fetched the OpenAPI document and drawn the operations.
    page.locator('[data-path="/v1/verifications"]').first.wait_for(timeout=15000)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("secinfo")
    assert outside == [], outside
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requested)
    assert any(url.endswith("/openapi.json") for url in requested)

    page.goto(f"{web_server.url}/redoc")
    assert urlsplit(page.url).path == "/docs"  # one reference, at one address
    context.close()
