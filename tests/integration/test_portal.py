"""The merchant portal as a person uses it, in a real headless Chromium (Debian's, driven by
its ChromeDriver through Selenium; nothing is downloaded): open it with an API key, register
an endpoint, see a failed attempt appear, recover, and see the event sent again."""

import asyncio
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ORDERS_TEST_ARTIFACTS", ROOT / ".local" / "artifacts"))
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
T = TypeVar("T")


class Browser:
    """Selenium's calls block; each runs in a thread, so the webhook receiver and the stack,
    which share this event loop, keep answering meanwhile."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(functools.partial(call, *args))

    async def find(self, css: str, root: WebElement | None = None) -> WebElement:
        return await self.run((root or self.driver).find_element, By.CSS_SELECTOR, css)

    async def texts(self, css: str) -> list[str]:
        def read() -> list[str]:
            try:
                return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css)]
            except StaleElementReferenceException:  # the page redrew it meanwhile
                return []

        return await self.run(read)

    async def visible(self, css: str) -> bool:
        def shown() -> bool:
            try:
                return self.driver.find_element(By.CSS_SELECTOR, css).is_displayed()
            except (NoSuchElementException, StaleElementReferenceException):
                return False

        return await self.run(shown)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("Debian's chromium and chromium-driver are needed (`make test` installs them)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="orders-portal-")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=Service(CHROMEDRIVER))
    try:
        yield Browser(driver)
    finally:
        await asyncio.to_thread(driver.quit)
        shutil.rmtree(profile, ignore_errors=True)


async def test_a_merchant_registers_an_endpoint_sees_a_failure_recovers_it_and_sees_the_resend(
    stack: Stack, receiver: WebhookReceiver, browser: Browser
) -> None:
    merchant = await stack.merchant()
    name = uuid.uuid4().hex
    url = receiver.url("fail", name)
    hostile = '<img src=x id=injected onerror="document.title=1">'

    await browser.run(browser.driver.get, stack.base_url + "/portal")
    await browser.run((await browser.find("#api-key")).send_keys, merchant.api_key)
    await browser.run((await browser.find("#key-form button")).click)
    await eventually(lambda: browser.visible("#no-endpoints"))
    assert merchant.api_key not in browser.driver.current_url  # never in an address

    form = await browser.find("#new-endpoint")
    await browser.run((await browser.find("input[name=url]", form)).send_keys, url)
    await browser.run((await browser.find("input[name=description]", form)).send_keys, hostile)
    await browser.run((await browser.find("button[type=submit]", form)).click)
    assert await eventually(lambda: browser.texts("article.endpoint .url")) == [url]
    assert "whsec_" in (await browser.find("#notice")).text
    assert await browser.texts("article.endpoint .description") == [hostile]  # shown as text
    assert await browser.run(browser.driver.find_elements, By.ID, "injected") == []

    checkout = await stack.checkout(merchant.merchant_id)
    order_id = await stack.create_order(merchant.api_key, checkout.checkout.id)

    async def rows(outcome: str) -> list[str] | None:
        found = await browser.texts(f"article.endpoint tr.attempt.{outcome}")
        return [row for row in found if order_id in row] or None

    failed = await eventually(lambda: rows("failed"), timeout=30)
    assert "500" in failed[0]

    async def dead() -> bool:
        return await stack.db.webhook_deliveries.count_documents({"orderId": order_id, "state": "dead"}) == 1

    await eventually(dead, timeout=30)  # the schedule ran out: only a recovery sends it again

    async def all_four_failures_shown() -> bool:
        return len(await rows("failed") or []) == 4

    await eventually(all_four_failures_shown, timeout=30)
    assert len(await browser.texts("article.endpoint button.resend")) == 1  # on the newest failure only
    await browser.run((await browser.find("article.endpoint button.resend")).click)  # still down: fails again
    await eventually(lambda: _says(browser, "is sent again (1)"))

    async def five_failures_shown() -> bool:
        return len(await rows("failed") or []) == 5

    await eventually(five_failures_shown, timeout=30)
    await eventually(dead, timeout=30)
    receiver.heal("fail", name)
    await browser.run((await browser.find("article.endpoint form.recover button")).click)
    await eventually(lambda: _says(browser, "1 failed event(s)"))
    succeeded = await eventually(lambda: rows("succeeded"), timeout=30)
    assert "200" in succeeded[0]
    assert " 6 succeeded " in f" {succeeded[0]} "  # the sixth attempt of that event
    assert len(receiver.at(url)) == 6  # four failed attempts, the failed resend, then the recovery

    await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "portal.png"
    assert await browser.run(browser.driver.save_screenshot, str(screenshot))
    print(f"\nscreenshot of the portal: {screenshot}")

    await browser.run((await browser.find("article.endpoint button.toggle")).click)

    async def shown_disabled() -> bool:
        return await browser.texts("article.endpoint .state") == ["disabled"]

    await eventually(shown_disabled)
    async with stack.client(merchant.api_key) as api:
        [endpoint] = (await api.get("/webhook-endpoints")).json()["data"]
        assert endpoint["enabled"] is False

    console: list[dict[str, Any]] = browser.driver.get_log("browser")  # type: ignore[no-untyped-call]
    refused = [e["message"] for e in console if "Content Security Policy" in e["message"]]
    assert refused == []


async def _says(browser: Browser, text: str) -> bool:
    return text in (await browser.find("#notice")).text
