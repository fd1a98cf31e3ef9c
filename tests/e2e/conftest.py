"""Fixtures of the browser tests: one ``secinfo serve`` for the run, Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser import Server, launch_browser, start_server, stop_server


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("pages"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API holds an event loop in this thread while it
    runs, so it must stop before the asyncio tests that follow."""
    yield from launch_browser()
