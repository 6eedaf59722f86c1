"""Every page of the product a browser can open without a token: the landing page, the API docs and every console
page. Each renders from the app's own assets (no request to another origin) and shows none of the planted secrets.
A screenshot of each goes to var/screenshots/."""

from django.contrib import admin
from django.test import override_settings
from django.urls import reverse
from selenium.webdriver.common.by import By

from tests.console.support import seed


def _assert_clean(browser, seeded, page: str) -> None:
    assert browser.external_requests() == [], page
    html = browser.page_source
    for secret in seeded.secrets:
        assert secret not in html, f"{secret} on {page}"


def test_the_landing_page_and_the_api_docs_work_offline(browser, transactional_db):
    seeded = seed()
    with override_settings(DEBUG=True):
        browser.open("/")
        browser.wait_for_testid("landing")
        assert "root@demo.test" in browser.by_testid("demo-logins").text
        browser.shot("landing")
        _assert_clean(browser, seeded, "/")

    browser.by_testid("link-swagger").click()
    browser.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock"), timeout=30)
    assert "Integration Framework API" in browser.text
    browser.shot("api-docs-swagger")
    _assert_clean(browser, seeded, "/api/docs/")

    browser.open("/")
    browser.by_testid("link-redoc").click()
    browser.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "h1"), timeout=30)
    browser.wait_for(lambda d: "Integration Framework API" in d.find_element(By.TAG_NAME, "body").text, timeout=30)
    browser.shot("api-docs-redoc")
    _assert_clean(browser, seeded, "/api/redoc/")


def test_every_console_page_renders_from_the_apps_assets_without_a_secret(admin_browser):
    seeded = seed()
    pages = [("/admin/", "console-index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        pages.append((reverse("admin:{}_{}_changelist".format(*info)), "console-{}-{}-list".format(*info)))
        first = model.objects.first()
        if first is not None:
            pages.append((reverse("admin:{}_{}_change".format(*info), args=[first.pk]), "console-{}-{}".format(*info)))

    for page, name in pages:
        admin_browser.open(page)
        admin_browser.wait_for(lambda d: d.find_elements(By.ID, "content"))
        assert "Server Error" not in admin_browser.title, page
        admin_browser.shot(name)
        _assert_clean(admin_browser, seeded, page)
