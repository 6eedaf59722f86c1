"""A delivery in the console: its attempts with secret headers masked, and a replay a real worker re-sends to a live
receiver (the Celery worker process from the e2e fixtures, the browser against Django's live server)."""

import json
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from standardwebhooks.webhooks import Webhook as StandardWebhook

from integrations.models import ActivityLog
from tests.console.support import HEADER_VALUE, WEBHOOK_SECRET, seed
from tests.e2e.conftest import celery_workers  # noqa: F401 - the real-worker fixture
from webhooks.models import Delivery


def _wait(predicate, *, timeout: float, why: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(why)


def test_a_delivery_page_shows_its_attempts_with_secrets_masked(admin_browser):
    seeded = seed()
    admin_browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")  # room
    admin_browser.open(f"/admin/webhooks/delivery/{seeded.failed_delivery.pk}/change/")
    headers = admin_browser.wait_for_testid("request-headers")

    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in headers.find_elements(By.TAG_NAME, "tr")]
    rows = dict(cells)
    assert rows["X-Route-Token"] == "********"
    assert rows["webhook-signature"] == "********"
    assert rows["content-type"] == "application/json"
    assert admin_browser.by_testid("response-excerpt").text == "upstream exploded"
    assert "HTTP 500" in admin_browser.text
    admin_browser.shot_page("delivery")
    assert HEADER_VALUE not in admin_browser.page_source
    assert admin_browser.external_requests() == []


@pytest.mark.e2e  # a real worker: PostgreSQL and Redis
def test_replaying_a_failed_delivery_resends_it_to_the_live_receiver(admin_browser, receiver, celery_workers):  # noqa: F811
    celery_workers.start(env={"WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_LEASE_SECONDS": "3"})
    seeded = seed(receiver_url=receiver.url("/erp"))
    delivery = seeded.failed_delivery
    admin_browser.execute_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")  # room

    admin_browser.open(f"/admin/webhooks/delivery/?q={delivery.pk}")
    admin_browser.find_element(By.CSS_SELECTOR, f'input.action-select[value="{delivery.pk}"]').click()
    Select(admin_browser.find_element(By.NAME, "action")).select_by_value("retry")
    admin_browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
    admin_browser.wait_for(lambda d: "1 deliveries queued again" in d.page_source)

    (request,) = receiver.wait_for(1, path="/erp", timeout=30)
    assert request.header("webhook-id") == str(delivery.event_id)
    StandardWebhook(WEBHOOK_SECRET).verify(request.body, request.headers)  # signed with the subscription's secret
    assert request.header("X-Route-Token") == HEADER_VALUE
    assert json.loads(request.body) == {"id": "x"}  # the event's stored bytes, sent again
    _wait(
        lambda: Delivery.objects.get(pk=delivery.pk).status == "success",
        timeout=20,
        why=f"the delivery did not succeed: {celery_workers.logs()}",
    )

    admin_browser.open(f"/admin/webhooks/delivery/{delivery.pk}/change/")
    admin_browser.wait_for_testid("request-headers")
    excerpts = [e.text for e in admin_browser.all_by_testid("response-excerpt")]
    assert excerpts == ["upstream exploded", "ok"]  # the first attempt and the replay's
    assert len(admin_browser.all_by_testid("request-headers")) == 2
    admin_browser.shot_page("delivery-replayed")
    assert HEADER_VALUE not in admin_browser.page_source and WEBHOOK_SECRET not in admin_browser.page_source

    entry = ActivityLog.objects.get(details__action="delivery_retry")
    assert entry.actor == admin_browser.user and entry.details["deliveryId"] == str(delivery.pk)
