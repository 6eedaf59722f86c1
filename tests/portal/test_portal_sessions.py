"""`POST /api/v1/portal/sessions` and the single-use link it returns: who may mint one, for whom, for how long, and
that a used or expired link signs nobody in (410)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from portal.models import PortalLink
from tests.factories import MembershipFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/portal/sessions"


def _path(url: str) -> str:
    return urlsplit(url).path


def test_an_admin_gets_a_single_use_link_that_signs_them_in_and_lands_on_the_portal(admin_client):
    response = admin_client.post(URL, {}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"url", "expiresAt"}
    assert body["url"].startswith("http://testserver/portal/enter/")
    link = PortalLink.objects.get()
    assert link.user == admin_client.user and link.tenant == admin_client.tenant
    assert 595 <= (link.expires_at - timezone.now()).total_seconds() <= 600
    assert _path(body["url"]).split("/")[-2] not in link.token_hash  # only a hash is stored

    browser = Client()
    landing = browser.get(_path(body["url"]))
    assert landing.status_code == 302 and landing["Location"] == "/portal/"
    page = browser.get("/portal/")
    assert page.status_code == 200
    assert admin_client.user.email in page.content.decode()


def test_a_used_link_answers_410_and_signs_nobody_in(admin_client):
    path = _path(admin_client.post(URL, {}, format="json").json()["url"])
    Client().get(path)

    second = Client()
    response = second.get(path)

    assert response.status_code == 410
    assert "can no longer be used" in response.content.decode()
    assert second.get("/portal/").status_code == 302  # still signed out


def test_an_expired_link_answers_410(admin_client):
    path = _path(admin_client.post(URL, {"ttlSeconds": 60}, format="json").json()["url"])
    PortalLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    browser = Client()
    assert browser.get(path).status_code == 410
    assert browser.get("/portal/").status_code == 302


def test_an_unknown_link_answers_410():
    assert Client().get("/portal/enter/not-a-real-token/").status_code == 410


def test_a_reused_link_also_signs_out_the_portal_session_of_that_browser(admin_client):
    first = _path(admin_client.post(URL, {}, format="json").json()["url"])
    browser = Client()
    browser.get(first)
    assert browser.get("/portal/").status_code == 200

    assert browser.get(first).status_code == 410
    assert browser.get("/portal/").status_code == 302


@pytest.mark.parametrize("role", [Role.INTEGRATION_MANAGER, Role.MEMBER])
def test_only_tenant_admins_mint_links(make_client, role):
    assert_error(make_client(role).post(URL, {}, format="json"), 403, "PERMISSION_DENIED")
    assert not PortalLink.objects.exists()


def test_anonymous_callers_are_401(anon_client):
    assert_error(anon_client.post(URL, {}, format="json"), 401, "AUTHENTICATION_REQUIRED")


def test_a_link_for_a_member_of_the_tenant_signs_in_that_member_with_their_role(admin_client):
    member = MembershipFactory(tenant=admin_client.tenant, role=Role.MEMBER)

    response = admin_client.post(URL, {"userId": str(member.user_id), "ttlSeconds": 3600}, format="json")

    assert response.status_code == 201, response.content
    browser = Client()
    browser.get(_path(response.json()["url"]))
    page = browser.get("/portal/").content.decode()
    assert member.user.email in page and "Member" in page


def test_a_user_of_another_tenant_is_404(admin_client):
    stranger = MembershipFactory(role=Role.MEMBER)

    response = admin_client.post(URL, {"userId": str(stranger.user_id)}, format="json")

    assert_error(response, 404, "USER_NOT_FOUND")
    assert not PortalLink.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ttlSeconds": 59}, "ttlSeconds"),
        ({"ttlSeconds": 3601}, "ttlSeconds"),
        ({"ttlSeconds": "soon"}, "ttlSeconds"),
        ({"userId": "not-a-uuid"}, "userId"),
        ({"role": "admin"}, "role"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(admin_client, body, field):
    error = assert_error(admin_client.post(URL, body, format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_minting_sweeps_links_expired_for_more_than_a_day(admin_client):
    admin_client.post(URL, {}, format="json")
    PortalLink.objects.update(expires_at=timezone.now() - timedelta(days=2))

    admin_client.post(URL, {}, format="json")

    assert PortalLink.objects.count() == 1


def test_super_admins_set_a_tenants_theme_in_django_admin(admin_client):
    from portal.models import TenantTheme
    from tests.factories import UserFactory

    root = Client()
    root.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert root.get("/admin/portal/tenanttheme/add/").status_code == 200

    response = root.post(
        "/admin/portal/tenanttheme/add/",
        {
            "tenant": str(admin_client.tenant.pk),
            "display_name": "Acme Hiring",
            "logo_url": "https://cdn.acme.test/logo.png",
            "primary_color": "#112233",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    theme = TenantTheme.objects.get(tenant=admin_client.tenant)
    assert (theme.display_name, theme.primary_color) == ("Acme Hiring", "#112233")
    bad = root.post(
        "/admin/portal/tenanttheme/add/",
        {"tenant": str(MembershipFactory().tenant_id), "primary_color": "red; background: url(x)"},
    )
    assert bad.status_code == 200 and TenantTheme.objects.count() == 1  # the form refused the colour
