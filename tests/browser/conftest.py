"""Browser tests: Selenium driving Debian's ``chromium`` through ``chromium-driver`` (no browser download at run time).

* Every test under ``tests/browser/`` is marked ``browser``. Without ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``
  they are skipped, except under ``REQUIRE_SERVICES=1`` (CI), where a missing browser is an error: ``.ci/run``
  installs both with apt.
* Pages are served by pytest-django's ``live_server`` (Django's threaded live server, static files included), not by
  bare sync gunicorn workers: a browser's idle pre-opened connections can hold a sync worker for its whole timeout.
* ``browser`` is a headless Chromium session; ``browser.shot(name)`` writes ``var/screenshots/<name>.png`` (the
  README's pictures come from there) and ``browser.external_requests()`` lists every resource the page loaded from
  another origin (the product serves every asset itself, so tests expect none).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if Path(str(item.fspath)).resolve().is_relative_to(HERE)]
    for item in ours:
        item.add_marker(pytest.mark.browser)
    if not ours or (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return
    if settings.REQUIRE_SERVICES:
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 but the browser tests have no browser: apt-get install chromium chromium-driver"
        )
    skip = pytest.mark.skip(reason="no chromium / chromedriver in /usr/bin (apt-get install chromium chromium-driver)")
    for item in ours:
        item.add_marker(skip)


class Browser:
    """A thin wrapper over a Selenium Chrome driver bound to the live server's URL."""

    def __init__(self, driver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def __getattr__(self, name):
        return getattr(self.driver, name)

    def open(self, path: str) -> None:
        self.driver.get(path if path.startswith("http") else f"{self.base_url}{path}")

    def by_testid(self, testid: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def all_by_testid(self, testid: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def wait_for(self, condition, timeout: float = 10):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def wait_for_testid(self, testid: str, timeout: float = 10):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait_for(ec.visibility_of_element_located((By.CSS_SELECTOR, f'[data-testid="{testid}"]')), timeout)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def shot_page(self, name: str, *, width: int = 1400) -> Path:
        """Like ``shot``, of the whole page (the window grown to the document's height, then put back)."""
        size = self.driver.get_window_size()
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(height + 120, 600), 6000))
        try:
            return self.shot(name)
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def external_requests(self) -> list[str]:
        """Every resource (script, style, font, image, XHR) the current page fetched from another origin."""
        ours = urlsplit(self.base_url).netloc
        names = self.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        return [n for n in names if urlsplit(n).scheme in ("http", "https") and urlsplit(n).netloc != ours]

    @property
    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text


@pytest.fixture
def browser(live_server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, live_server.url)
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def _browser_hosts(settings):
    """The live server answers at localhost / 127.0.0.1."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "127.0.0.1"]


@pytest.fixture
def admin_browser(browser, transactional_db):
    """``browser`` signed in to the console as a super admin (a session made server-side, handed over as a cookie)."""
    from django.test import Client

    from tests.factories import UserFactory

    user = UserFactory(email="console-root@example.test", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    browser.open("/healthz")  # a page of the live server's origin, so that the cookie can be set for it
    browser.add_cookie(
        {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}
    )
    browser.user = user
    return browser
