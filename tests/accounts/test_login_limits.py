"""Client identity behind proxies, and the per-account failed-login limit (API token endpoint and Django admin)."""

import ipaddress
import random
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"


def fresh_ip() -> str:
    """An address no earlier run has spent rate-limit budget from (the counters live in Redis for a minute)."""
    return str(ipaddress.IPv4Address(random.randint(0x0B000000, 0x0BFFFFFF)))  # 11.0.0.0/8


def login(client, email, password=PASSWORD, **extra):
    return client.post(TOKEN_URL, {"email": email, "password": password}, format="json", **extra)


# --- client identity -----------------------------------------------------------------------------------------------
def test_a_new_forwarded_for_per_request_does_not_buy_a_new_login_budget(settings):
    """The attack: one machine sends X-Forwarded-For: <random> on every try and never meets the auth limit."""
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "3/minute"}
    client = APIClient(REMOTE_ADDR=fresh_ip())

    statuses = [
        login(client, "victim@example.test", f"guess-{i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(4)
    ]

    assert statuses == [401, 401, 401, 429]


def test_forwarded_for_is_read_only_from_a_listed_proxy(settings):
    from django.test import RequestFactory

    from config.api import client_ip

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]

    make = RequestFactory().get
    # From a trusted proxy: the right-most entry that is not itself a proxy; what the client wrote left of it is noise.
    assert client_ip(make("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")) == "203.0.113.7"
    assert (
        client_ip(make("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7, 10.0.0.9"))
        == "203.0.113.7"
    )
    # From anyone else the header is ignored.
    assert client_ip(make("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.7")) == "198.51.100.1"
    # A garbage hop stops the walk at the proxy.
    assert client_ip(make("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7, nonsense")) == "10.0.0.5"
    settings.TRUSTED_PROXIES = []
    assert client_ip(make("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")) == "10.0.0.5"


def test_behind_a_trusted_proxy_clients_keep_separate_budgets_and_spoofing_does_not_help(settings):
    settings.RATE_LIMIT_ENABLED = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "auth": "2/minute"}
    proxy = APIClient(REMOTE_ADDR="10.0.0.5")

    one, two = fresh_ip(), fresh_ip()
    first = [
        login(proxy, "x@example.test", "bad-bad-bad", HTTP_X_FORWARDED_FOR=f"{i}.{i}.{i}.{i}, {one}").status_code
        for i in range(1, 4)
    ]
    other = login(proxy, "x@example.test", "bad-bad-bad", HTTP_X_FORWARDED_FOR=two).status_code

    assert first == [401, 401, 429]
    assert other == 401


# --- per-account failed-login limit --------------------------------------------------------------------------------
def test_ten_failures_from_ten_addresses_lock_the_account_even_for_the_right_password(settings):
    membership = MembershipFactory(role=Role.ADMIN)
    email = membership.user.email

    for i in range(settings.LOGIN_FAILURE_LIMIT):
        response = login(APIClient(REMOTE_ADDR=f"203.0.113.{i + 1}"), email.upper(), f"wrong-{i}")
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")

    response = login(APIClient(REMOTE_ADDR="198.51.100.99"), email)

    error = assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    retry_after = int(response["Retry-After"])
    assert settings.LOGIN_FAILURE_WINDOW_SECONDS - 5 <= retry_after <= settings.LOGIN_FAILURE_WINDOW_SECONDS
    assert error["retryAfter"] == retry_after
    assert "access" not in response.json()
    # Another account is not affected.
    assert login(APIClient(), MembershipFactory().user.email).status_code == 200


def test_the_lockout_ends_when_the_window_has_passed(settings):
    from axes.models import AccessAttempt

    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    membership = MembershipFactory()
    client = APIClient()
    for _ in range(3):
        login(client, membership.user.email, "wrong-wrong")
    assert login(client, membership.user.email).status_code == 429

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.first().attempt_time
        - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 1)
    )

    assert login(client, membership.user.email).status_code == 200


def test_attempts_during_the_lockout_do_not_extend_it(settings):
    from axes.models import AccessAttempt

    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 2
    membership = MembershipFactory()
    for _ in range(2):
        login(APIClient(), membership.user.email, "wrong-wrong")
    before = list(AccessAttempt.objects.values_list("attempt_time", "failures_since_start"))

    for _ in range(3):
        assert login(APIClient(), membership.user.email, "wrong-again").status_code == 429

    assert list(AccessAttempt.objects.values_list("attempt_time", "failures_since_start")) == before


def test_django_admin_login_is_limited_by_the_same_counters(settings):
    admin = UserFactory(is_staff=True, is_superuser=True)
    browser = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(settings.LOGIN_FAILURE_LIMIT - 1):
        response = Client(REMOTE_ADDR=f"203.0.113.{i + 1}").post(
            "/admin/login/", {"username": admin.email, "password": f"wrong-{i}"}
        )
        assert response.status_code == 200  # the form again, with an error
    # The tenth failure comes through the API: one counter for both doors.
    login(APIClient(), admin.email, "wrong-api")

    response = browser.post("/admin/login/?next=/admin/", {"username": admin.email, "password": PASSWORD})

    error = assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert int(response["Retry-After"]) >= 1 and error["retryAfter"] >= 1
    assert "_auth_user_id" not in browser.session
    assert browser.get("/admin/").status_code == 302  # still sent to the login page
    assert_error(login(APIClient(), admin.email), 429, "RATE_LIMIT_EXCEEDED")


def test_admin_login_answers_like_the_api_failures_then_429(settings):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    admin = UserFactory(is_staff=True, is_superuser=True)
    browser = Client()

    statuses = [
        browser.post("/admin/login/", {"username": admin.email, "password": "wrong-wrong"}).status_code
        for _ in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


def test_admin_login_works_below_the_limit():
    admin = UserFactory(is_staff=True, is_superuser=True)
    browser = Client()
    browser.post("/admin/login/", {"username": admin.email, "password": "wrong-once"})

    response = browser.post("/admin/login/?next=/admin/", {"username": admin.email, "password": PASSWORD})

    assert response.status_code == 302
    assert browser.get("/admin/").status_code == 200
