"""Fixtures of the page tests.

- ``web`` (a :class:`web_support.WebClient`): pages through FastAPI's TestClient, on SQLite and PostgreSQL like
  every ``db`` test.
- ``server``: one real ``suanli serve`` per session on a free port, over a fresh SQLite database with the demo
  network (30 data centers, local clusters, the demo accounts); ``browser``: Debian's Chromium through Playwright;
  ``page``/``phone_page``: a fresh laptop-sized (1366×900) or phone-sized (390×844) tab, zh-CN; ``sized_page``: the
  one or the other, so a journey written once runs at both sizes. A missing Chromium
  fails these tests; ``SUANLI_TEST_SKIP_BROWSER=1`` skips them knowingly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from web_support import (CHROMIUM_ARGS, LAPTOP, PHONE, TEST_SECRET_KEY, Server, WebClient, chromium_or_fail,
                         start_server)


@pytest.fixture(autouse=True)
def _web_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_SECRET_KEY", TEST_SECRET_KEY)


@pytest.fixture
def web(client: Any) -> WebClient:
    return WebClient(client)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    chromium_or_fail()
    running = start_server(tmp_path_factory.mktemp("web-server"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_fail()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _tab(browser: Any, server: Server, viewport: dict[str, int]) -> Iterator[Any]:
    log_start = server.log.stat().st_size
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    with server.log.open("rb") as log:  # the server's own errors, so a 500 page comes with its cause
        log.seek(log_start)
        new = log.read().decode("utf-8", "replace")
    assert "Traceback" not in new, f"the server logged an error during the test:\n{new[-6000:]}"


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    yield from _tab(browser, server, LAPTOP)


@pytest.fixture
def phone_page(browser: Any, server: Server) -> Iterator[Any]:
    yield from _tab(browser, server, PHONE)


@pytest.fixture(params=[LAPTOP, PHONE], ids=lambda v: f"{v['width']}x{v['height']}")
def sized_page(request: pytest.FixtureRequest, browser: Any, server: Server) -> Iterator[Any]:
    yield from _tab(browser, server, request.param)
