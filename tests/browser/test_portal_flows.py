"""The tenant portal in a real browser: a tenant admin enters through a portal-session link, enables an API-key
provider whose health request goes to a local stand-in, connects it, creates a webhook to a local receiver, sees the
secret once, sends a test, sees the delivery and its attempt, and retries it; a member sees read-only pages; a reused
link signs nobody in; another tenant's pages are 404. Screenshots go to var/screenshots/ (the README's pictures).

Deliveries: "Send a test" is sent by the web request itself; a retry is queued to Celery, and here the Celery app runs
tasks eagerly, so the live server's thread sends it in-process (the worker processes are covered by tests/e2e/).
"""

from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from accounts.models import Role
from config.celery import app as celery_app
from integrations.health import health_check_run
from integrations.models import Connection, Integration
from portal.models import TenantTheme
from providers.catalog_loader import load_catalog
from providers.services import providers_sync
from tests.conftest import client_for
from tests.e2e.conftest import Reply
from tests.factories import MembershipFactory
from tests.integrations.factories import ProviderFactory
from webhooks.models import Delivery, DeliveryAttempt

API_KEY = "lk_live_portal_browser_test_key_42"


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def local_provider(receiver):
    """An API-key provider of the catalog whose API (and health request) is the local receiver."""
    return ProviderFactory(
        key="ledgerly",
        name="Ledgerly",
        display_name="Ledgerly",
        description="Invoices, payments and ledgers for growing teams.",
        category="accounting",
        color="#0f766e",
        api_base_url=receiver.url("").rstrip("/"),
        health_check={"method": "GET", "path": "/health", "expectedStatus": [200]},
        credential_schema={
            "type": "object",
            "properties": {"apiKey": {"type": "string", "description": "Ledgerly API key (Settings → API)."}},
            "required": ["apiKey"],
        },
    )


def _link_path(admin, user=None) -> str:
    body = {"userId": str(user.pk)} if user else {}
    response = client_for(admin).post("/api/v1/portal/sessions", body, format="json")
    assert response.status_code == 201, response.content
    return urlsplit(response.json()["url"]).path


def _text_of(browser, testid: str, wanted) -> bool:
    """For wait_for: the element's text satisfies `wanted` (a page being replaced mid-check counts as not yet)."""
    try:
        return any(wanted(e.text.strip()) for e in browser.all_by_testid(testid))
    except StaleElementReferenceException:
        return False


def _submit(form):
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_a_tenant_admin_runs_the_whole_portal_flow(browser, transactional_db, receiver, local_provider, eager_celery):
    providers_sync(entries=load_catalog())  # the shipped catalog beside the local provider
    admin = MembershipFactory(role=Role.ADMIN, tenant__name="Northwind")
    TenantTheme.objects.create(tenant=admin.tenant, display_name="Northwind Integrations", primary_color="#7c3aed")

    # Enter through a single-use portal session link.
    browser.open(_link_path(admin))
    browser.wait_for(lambda d: urlsplit(d.current_url).path == "/portal/")
    assert "Northwind Integrations" in browser.text and admin.user.email in browser.text

    # Catalog: search, then enable the local provider.
    browser.open("/portal/catalog/")
    browser.by_testid("catalog-search").send_keys("ledger")
    browser.wait_for(
        lambda d: (
            len(browser.all_by_testid("provider-ledgerly")) == 1 and len(browser.all_by_testid("enable-provider")) == 1
        )
    )
    browser.shot("portal-catalog-search")
    browser.by_testid("catalog-search").send_keys(Keys.CONTROL, "a", Keys.BACKSPACE)
    browser.wait_for(lambda d: len(browser.all_by_testid("enable-provider")) > 20)
    assert browser.external_requests() == []
    browser.shot("portal-catalog")
    entry = browser.by_testid("provider-ledgerly")
    entry.find_element(By.CSS_SELECTOR, '[data-testid="enable-provider"]').click()
    name = browser.wait_for_testid("integration-name")
    name.clear()
    name.send_keys("Ledgerly (production)")
    browser.by_testid("save").click()

    # Integration: connect with an API key (checked against the local stand-in first), then test.
    form = browser.wait_for_testid("connect-api-key")
    form.find_element(By.NAME, "apiKey").send_keys(API_KEY)
    _submit(form)
    browser.wait_for(lambda d: _text_of(browser, "connection-status", lambda t: t.startswith("Connected")))
    health = receiver.received("/health")
    assert health and health[-1].header("X-Api-Key") == API_KEY
    integration = Integration.objects.get(tenant=admin.tenant)
    assert Connection.objects.get(integration=integration).status == "active"
    assert API_KEY not in browser.page_source

    browser.by_testid("test-connection").click()
    result = browser.wait_for_testid("test-result")
    assert "Connection works" in result.text

    # A few health checks against the stand-in, for the response-time chart.
    receiver.script("/health", *(Reply(delay=d) for d in (0.05, 0.12, 0.08, 0.2, 0.06, 0.15, 0.09, 0.11)))
    for _ in range(8):
        health_check_run(integration=integration)
    browser.open(f"/portal/integrations/{integration.pk}/")
    browser.wait_for_testid("connection-status")
    assert browser.driver.find_elements(By.CSS_SELECTOR, ".chart polyline")
    browser.shot("portal-integration")

    # Webhooks: create a subscription to the local receiver; the secret is shown once.
    browser.open("/portal/webhooks/")
    form = browser.wait_for_testid("webhook-new")
    form.find_element(By.NAME, "name").send_keys("Ledger sync")
    form.find_element(By.NAME, "url").send_keys(receiver.url("/hook"))
    form.find_element(By.CSS_SELECTOR, 'input[name="events"][value="integration.*"]').click()
    form.find_element(By.CSS_SELECTOR, 'input[name="events"][value="webhook.test"]').click()
    form.find_element(By.CSS_SELECTOR, '[data-testid="save"]').click()
    secret = browser.wait_for_testid("webhook-secret").text
    assert secret.startswith("whsec_")
    browser.shot("portal-webhook-secret")
    assert (
        urlsplit(browser.current_url).path.startswith("/portal/webhooks/")
        and urlsplit(browser.current_url).path != "/portal/webhooks/"
    )
    browser.open(urlsplit(browser.current_url).path)  # the same page again: the secret is gone
    assert browser.all_by_testid("webhook-secret") == [] and secret not in browser.page_source

    # Send a test: the receiver gets it, the delivery shows up with its attempt.
    browser.by_testid("send-test").click()
    receiver.wait_for(1, path="/hook")
    browser.wait_for(lambda d: _text_of(browser, "delivery", lambda t: "success" in t))
    assert len(browser.all_by_testid("delivery")) == 1
    browser.by_testid("delivery").find_element(By.TAG_NAME, "a").click()
    browser.wait_for_testid("delivery-attempt")
    assert len(browser.all_by_testid("delivery-attempt")) == 1
    assert receiver.received("/hook")[0].header("webhook-signature") not in browser.page_source

    # Retry it: sent again (same webhook-id), a second attempt is listed.
    delivery_page = browser.current_url
    browser.by_testid("retry-delivery").click()
    receiver.wait_for(2, path="/hook")
    first, second = receiver.received("/hook")[:2]
    assert first.header("webhook-id") == second.header("webhook-id")
    browser.wait_for(lambda d: DeliveryAttempt.objects.filter(delivery__webhook__tenant=admin.tenant).count() == 2)
    browser.open(urlsplit(delivery_page).path)
    assert len(browser.all_by_testid("delivery-attempt")) == 2
    assert Delivery.objects.get(webhook__tenant=admin.tenant).status == "success"
    assert browser.external_requests() == []
    browser.shot("portal-delivery")


def test_a_member_sees_read_only_pages(browser, transactional_db, local_provider):
    admin = MembershipFactory(role=Role.ADMIN)
    member = MembershipFactory(role=Role.MEMBER, tenant=admin.tenant)
    integration = Integration.objects.create(
        tenant=admin.tenant, provider=local_provider, name="Ledgerly", auth_type="api_key"
    )

    browser.open(_link_path(admin, member.user))
    browser.wait_for(lambda d: urlsplit(d.current_url).path == "/portal/")
    assert "Member" in browser.text

    browser.open("/portal/catalog/")
    browser.wait_for_testid("provider-ledgerly")
    assert browser.all_by_testid("enable-provider") == []

    browser.open(f"/portal/integrations/{integration.pk}/")
    assert "Not connected" in browser.wait_for_testid("connection-status").text
    assert browser.all_by_testid("connect-api-key") == [] and browser.all_by_testid("test-connection") == []

    browser.open("/portal/webhooks/")
    assert browser.all_by_testid("webhook-new") == []
    assert "No subscription yet" in browser.text

    browser.open("/portal/catalog/ledgerly/enable/")
    assert "Not allowed" in browser.text
    assert Integration.objects.filter(tenant=admin.tenant).count() == 1


def test_a_reused_link_signs_nobody_in(browser, transactional_db):
    admin = MembershipFactory(role=Role.ADMIN)
    path = _link_path(admin)
    browser.open(path)
    browser.wait_for(lambda d: urlsplit(d.current_url).path == "/portal/")
    browser.delete_all_cookies()

    browser.open(path)
    assert "This link can no longer be used" in browser.text
    browser.shot("portal-link-gone")
    browser.open("/portal/")
    assert urlsplit(browser.current_url).path == "/portal/login/"


def test_another_tenants_pages_are_404(browser, transactional_db, local_provider):
    owner = MembershipFactory(role=Role.ADMIN)
    integration = Integration.objects.create(
        tenant=owner.tenant, provider=local_provider, name="Secret ledger", auth_type="api_key"
    )
    stranger = MembershipFactory(role=Role.ADMIN)

    browser.open(_link_path(stranger))
    browser.wait_for(lambda d: urlsplit(d.current_url).path == "/portal/")
    browser.open(f"/portal/integrations/{integration.pk}/")

    assert "Not found" in browser.text and "Secret ledger" not in browser.text
    status = browser.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
    assert status == 404


def test_the_portal_is_usable_with_the_keyboard(browser, transactional_db, local_provider):
    admin = MembershipFactory(role=Role.ADMIN)
    browser.open(_link_path(admin))
    browser.wait_for(lambda d: urlsplit(d.current_url).path == "/portal/")

    browser.open("/portal/catalog/ledgerly/enable/")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    name = browser.by_testid("integration-name")
    name.clear()
    name.send_keys("Keyboard ledger", Keys.ENTER)

    form = browser.wait_for_testid("connect-api-key")
    assert Integration.objects.filter(tenant=admin.tenant, name="Keyboard ledger").exists()
    field = form.find_element(By.NAME, "apiKey")
    label = browser.find_element(By.CSS_SELECTOR, f'label[for="{field.get_attribute("id")}"]')
    assert label.text == "API key"


def _host_page(receiver, path: str, src: str) -> str:
    """An embedding app's page, served by the local receiver on another origin (same site: localhost)."""
    html = (
        "<!doctype html><title>Host app</title><h1>Host app</h1>"
        f'<iframe id="portal" src="{src}" width="1200" height="700" onload="document.body.dataset.loaded = 1"></iframe>'
    )
    receiver.script(path, Reply(body=html.encode(), headers={"Content-Type": "text/html; charset=utf-8"}))
    return f"http://localhost:{receiver.port}{path}"


def test_only_the_configured_origins_may_frame_the_portal(browser, transactional_db, receiver, settings):
    admin = MembershipFactory(role=Role.ADMIN, tenant__name="Framed Co")

    settings.PORTAL_FRAME_ANCESTORS = []
    browser.open(_host_page(receiver, "/refused", f"{browser.base_url}/portal/login/"))
    browser.wait_for(lambda d: d.execute_script("return document.body.dataset.loaded"))  # the frame has loaded
    browser.switch_to.frame(browser.find_element(By.ID, "portal"))
    assert "Sign in" not in browser.find_element(By.TAG_NAME, "body").text  # Chrome blocked it: an error page
    browser.switch_to.default_content()

    settings.PORTAL_FRAME_ANCESTORS = [f"http://localhost:{receiver.port}"]
    browser.open(_host_page(receiver, "/embedded", f"{browser.base_url}{_link_path(admin)}"))
    browser.switch_to.frame(browser.find_element(By.ID, "portal"))
    browser.wait_for(lambda d: "Framed Co" in d.find_element(By.TAG_NAME, "body").text)
    assert "Integrations" in browser.find_element(By.TAG_NAME, "body").text
    browser.switch_to.default_content()
    browser.shot("portal-embedded")
