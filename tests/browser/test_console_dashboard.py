"""The console's dashboard in a real browser: sign in, charts drawn from the seeded deliveries, the failing endpoint."""

from selenium.webdriver.common.by import By

from tests.console.support import seed
from tests.factories import PASSWORD, UserFactory


def _bars(browser, chart: str, series: str) -> int:
    rects = browser.find_elements(By.CSS_SELECTOR, f'[data-testid="{chart}"] rect[data-series="{series}"]')
    return sum(int(r.get_attribute("data-count")) for r in rects)


def test_super_admin_signs_in_and_sees_the_dashboard_drawn_from_real_data(browser, transactional_db):
    seeded = seed()
    UserFactory(email="root@example.test", is_staff=True, is_superuser=True)

    browser.open("/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys("root@example.test")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    browser.wait_for_testid("dashboard")

    # Every seeded delivery of the last 24 h is a bar segment, by outcome, and the chart is visible.
    chart = browser.by_testid("chart-deliveries-24h")
    assert chart.size["height"] > 100 and chart.size["width"] > 400
    for status, count in seeded.counts.items():
        assert _bars(browser, "chart-deliveries-24h", status) == count, status
    assert _bars(browser, "chart-deliveries-7d", "success") == seeded.counts["success"] + 1  # + the 3-day-old one
    for status, count in seeded.inbound_counts.items():
        assert _bars(browser, "chart-inbound-24h", status) == count, status
    assert browser.by_testid("rate-24h").text.split("\n")[1] == f"{round(100 * 6 / 11, 1)} %"

    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in browser.all_by_testid("failing-endpoint")]
    assert rows == [
        ["Broken CRM sync", "http://127.0.0.1:9/broken", "Globex", "4", "0.0 %"],
        ["Orders to ERP", "http://127.0.0.1:9/hook", "Acme Corp", "1", "87.5 %"],
    ]
    assert "Globex CRM" in browser.by_testid("connections-to-fix").text
    assert "invalid_grant" in browser.by_testid("refresh-failures").text

    browser.shot("dashboard")
    assert browser.external_requests() == []
    for secret in seeded.secrets:
        assert secret not in browser.page_source


def test_a_failing_endpoint_leads_to_its_failed_deliveries(admin_browser):
    seed()
    admin_browser.open("/admin/")
    admin_browser.wait_for_testid("failing-endpoints")
    admin_browser.find_element(By.CSS_SELECTOR, '[data-testid="failing-endpoint"] td.num a').click()

    admin_browser.wait_for(lambda d: "/admin/webhooks/delivery/" in d.current_url)
    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 4
    assert all("Broken CRM sync" in r.text and "Failed" in r.text for r in rows), [r.text for r in rows]
