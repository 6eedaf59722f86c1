"""The console's front door in a real browser: the login page renders from the app's own assets and signs in."""

from selenium.webdriver.common.by import By

from tests.factories import PASSWORD, UserFactory


def test_super_admin_signs_in_to_the_console_with_every_asset_served_by_the_app(browser, transactional_db):
    UserFactory(email="root@example.test", is_staff=True, is_superuser=True)

    browser.open("/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("root@example.test")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()

    browser.wait_for(lambda d: "/admin/login" not in d.current_url)
    assert "Log out" in browser.text or "LOG OUT" in browser.text.upper()
    assert browser.external_requests() == []
