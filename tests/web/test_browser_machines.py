"""A new user's journey to a machine, in a real browser against a real `suanli serve` with the demo network: the
demo buyer orders a container product on its page, the order page shows the machine being delivered and then the
SSH command and the JupyterLab button by itself (htmx), the real ``ssh`` logs in with the demo buyer's key, the
JupyterLab link opens JupyterLab, and releasing stops it. Needs root (the local backend's sandbox)."""

from __future__ import annotations

import os
import re
import subprocess

import httpx
import pytest

from web_support import DEMO_BUYER, PHONE, assert_fits_the_phone, laptop_screenshot, login

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(os.geteuid() != 0, reason="the local backend's sandbox needs root")]


def test_a_buyer_rents_a_container_logs_in_and_opens_jupyterlab(server, sized_page):
    page, base = sized_page, server.base_url
    login(page, base, DEMO_BUYER)
    found = httpx.get(base + "/api/v1/products", params={"q": "delivery=container kind=accelerator sort=price",
                                                         "limit": 1}).json()["items"][0]
    page.goto(f"{base}/products/{found['id']}")
    assert page.locator("select[name=image]").is_visible()
    assert page.locator("[data-testid=keys-installed]").is_visible()  # the demo buyer's key is ready
    page.select_option("select[name=image]", "cpu-python")
    page.fill("input[name=ports]", "8000")
    page.click("[data-testid=place-order]")
    page.wait_for_url(re.compile(r"/account/orders/"))
    assert page.locator("[data-testid=instance]").count() == 1

    # the page follows the delivery by itself (htmx polls while it is provisioning)
    page.wait_for_selector("[data-testid=ssh-command]", timeout=90_000)
    assert page.get_attribute("[data-testid=instance]", "data-state") == "running"
    command = page.inner_text("[data-testid=ssh-command]")
    match = re.fullmatch(r"ssh -p (\d+) user@127\.0\.0\.1", command.strip())
    assert match, command
    page.reload()
    assert page.inner_text("[data-testid=order-status]") == "运行中"
    laptop_screenshot(page, "machine-zh")
    if page.viewport_size == PHONE:  # the SSH command and the JupyterLab button fit, and can be copied and clicked
        assert_fits_the_phone(page, "the order page with its machine")
        assert page.locator("[data-testid=jupyter-link]").is_visible()

    key = server.home / "demo-ssh" / "id_ed25519"
    out = subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
                          "LogLevel=ERROR", "-p", match.group(1), "user@127.0.0.1", "id -u; echo $SUANLI_IMAGE"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    uid, image = out.stdout.split()
    assert int(uid) not in (0, os.getuid()) and image == "cpu-python"

    link = page.get_attribute("[data-testid=jupyter-link]", "href")
    assert link and "token=" in link
    lab = page.context.new_page()
    lab.goto(link)
    lab.wait_for_function("() => document.title.includes('JupyterLab')", timeout=60_000)
    lab.close()

    page.click("[data-testid=release]")
    page.wait_for_selector("[data-testid=confirm-step]")  # what it will cost, before it does
    page.click("[data-testid=confirm]")
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("[data-testid=instance][data-state=stopped]", timeout=30_000)
    refused = subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-p", match.group(1),
                              "user@127.0.0.1", "true"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 255
