"""Helpers for the page tests: a TestClient that keeps cookies and sends each form's CSRF token, and the
browser harness (a real `suanli serve` on a free port, Debian's Chromium through Playwright)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from support import stop_process_group, wait_until_serving
import pytest

REPO = Path(__file__).resolve().parents[2]
#: The README shows docs/screenshots/; the tests refresh them there only when asked
#: (``SUANLI_UPDATE_SCREENSHOTS=1 make test``), so a plain run leaves the working tree clean.
SCREENSHOTS = REPO / "docs" / "screenshots" if os.environ.get("SUANLI_UPDATE_SCREENSHOTS") == "1" \
    else Path(os.environ.get("SUANLI_TEST_SCREENSHOTS", "/tmp/suanli-test-screenshots"))
CHROMIUM = os.environ.get("SUANLI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 900}  # the journeys run at both sizes (issue 13)
PHONE = {"width": 390, "height": 844}
DEMO_PASSWORD = "suanli-demo"
DEMO_BUYER, DEMO_SELLER, DEMO_OPERATOR = ("buyer@demo.suanli.cn", "seller@demo.suanli.cn",
                                          "operator@demo.suanli.cn")
# A Fernet key (the install secret is one: it also encrypts cluster credentials), fixed for the tests.
TEST_SECRET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class WebClient:
    """A TestClient session as a browser would hold it: cookies kept, the CSRF token of the last page sent
    with every form."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.last_html = ""

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(url, **kwargs)
        if "text/html" in response.headers.get("content-type", ""):
            self.last_html = response.text
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, *, token: str | None = None,
             **kwargs: Any) -> httpx.Response:
        """POST a form with the CSRF token of the last page (or ``token``; ``token=""`` sends none)."""
        if token is None:
            token = csrf_token(self.last_html or self.get("/login").text)
        body = dict(data or {})
        if token:
            body["csrf_token"] = token
        kwargs.setdefault("follow_redirects", False)
        response = self.client.post(url, data=body, **kwargs)
        if "text/html" in response.headers.get("content-type", ""):
            self.last_html = response.text
        return response

    def login(self, email: str, password: str) -> httpx.Response:
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text[:2000]
        return response


# ---------------------------------------------------------------- the browser harness

def chromium_or_fail() -> str:
    """Chromium's path; a missing Chromium fails the test unless SUANLI_TEST_SKIP_BROWSER=1 says skip it."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("SUANLI_TEST_SKIP_BROWSER") == "1":
        pytest.skip("SUANLI_TEST_SKIP_BROWSER=1: browser tests skipped on purpose")
    pytest.fail(f"Chromium is not at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does), set "
                "SUANLI_TEST_CHROMIUM, or SUANLI_TEST_SKIP_BROWSER=1 to skip the browser tests knowingly.")
    raise AssertionError  # unreachable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base_url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        stop_process_group(self.process)


def start_server(home: Path) -> Server:
    """Migrate a fresh SQLite database in ``home``, load the demo network (with its local clusters), and run
    `suanli serve` (meter and scheduler included) on a free port in its own process group."""
    suanli = shutil.which("suanli", path=str(Path(sys.executable).parent)) or "suanli"
    port = free_port()
    env = {**os.environ, "SUANLI_HOME": str(home), "SUANLI_DATABASE_URL": f"sqlite:///{home / 'suanli.db'}",
           "SUANLI_PORT": str(port), "SUANLI_HOST": "127.0.0.1", "SUANLI_SCHEDULER_INTERVAL_SECONDS": "1",
           "SUANLI_METER_INTERVAL_SECONDS": "30", "SUANLI_SECRET_KEY": TEST_SECRET_KEY}
    env.pop("SUANLI_API_URL", None)
    loaded = subprocess.run([suanli, "demo", "--no-serve", "--no-job"], env=env, capture_output=True, text=True,
                            timeout=300)
    if loaded.returncode != 0:
        raise RuntimeError(f"suanli demo failed ({loaded.returncode}): {loaded.stdout[-2000:]}{loaded.stderr[-3000:]}")
    log = home / "server.log"
    process = subprocess.Popen([suanli, "serve", "--port", str(port)], env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", home, env, process, log)
    wait_until_serving(process, server.base_url, log, server.stop, timeout=180)  # a loaded CI machine: slow start
    return server


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """``<SCREENSHOTS>/<name>.png``: deterministic names, the README links them in docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def laptop_screenshot(page: Any, name: str, *, full_page: bool = False) -> Path | None:
    """The README's screenshots are the laptop's: a journey that also runs on a phone takes them once."""
    return screenshot(page, name, full_page=full_page) if page.viewport_size == LAPTOP else None


def login(page: Any, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"login failed for {email}: still on {page.url}"


def logout(page: Any) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_load_state("networkidle")


def assert_fits_the_phone(page: Any, what: str) -> None:
    """The page is no wider than the phone: nothing makes it scroll sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} is {width}px wide on a {PHONE['width']}px phone: it scrolls sideways"
