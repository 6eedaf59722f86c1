"""The portal's pages through the Django test client: the same services, roles, tenant scoping, CSRF and activity
as the API, framing limited to PORTAL_FRAME_ANCESTORS, the tenant's theme, and no secret rendered."""

import re
from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from integrations.models import ActivityLog, Connection, HealthCheck, Integration
from integrations.services import integration_create
from portal.models import TenantTheme
from providers.catalog_loader import load_catalog
from providers.services import providers_sync
from tests.factories import PASSWORD, MembershipFactory
from tests.integrations.factories import catalog_provider
from webhooks.models import Delivery, Webhook
from webhooks.selectors import webhook_live_secrets
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db

STRIPE_KEY = "sk_test_51HxAbCdEfGhIjKlMnOpQrStUv"
BALANCE = {"object": "balance", "livemode": False, "available": [{"amount": 0, "currency": "usd"}], "pending": []}


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    monkeypatch.setattr("providers.http._sleep", lambda seconds: None)


def _stripe(tenant, name="Billing"):
    return integration_create(tenant=tenant, provider=catalog_provider("stripe"), name=name)


def _webhook(tenant, name="Orders"):
    webhook, _secret = webhook_create(tenant=tenant, name=name, url="http://127.0.0.1:9/in", events=["integration.*"])
    return webhook


def _delivery(webhook, *, status="failed", created_at=None):
    from webhooks.models import WebhookEvent

    now = created_at or timezone.now()
    event = WebhookEvent.objects.create(
        tenant_id=webhook.tenant_id, event="integration.created", payload={}, body="{}", created_at=now
    )
    return Delivery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        event=event,
        event_type="integration.created",
        status=status,
        created_at=now,
    )


# --- entry, login, framing, theme --------------------------------------------------------------------------------
def test_pages_need_a_portal_session_and_send_you_to_the_login_page():
    response = Client().get("/portal/webhooks/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/webhooks/"


def test_standalone_login_signs_in_and_returns_to_the_page_asked_for():
    membership = MembershipFactory(role=Role.MEMBER)
    browser = Client()

    response = browser.post(
        "/portal/login/", {"email": membership.user.email, "password": PASSWORD, "next": "/portal/webhooks/"}
    )

    assert response.status_code == 302 and response["Location"] == "/portal/webhooks/"
    assert browser.get("/portal/webhooks/").status_code == 200


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "/admin/"])
def test_login_never_redirects_outside_the_portal(next_path):
    membership = MembershipFactory()
    response = Client().post(
        "/portal/login/", {"email": membership.user.email, "password": PASSWORD, "next": next_path}
    )
    assert response["Location"] == "/portal/"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong():
    membership = MembershipFactory()
    response = Client().post("/portal/login/", {"email": membership.user.email, "password": "nope-nope"})
    assert response.status_code == 400
    assert "Invalid email or password." in response.content.decode()


def test_portal_login_failures_count_against_the_account_limit_and_a_locked_account_is_refused(settings):
    """Ten wrong passwords at /portal/login (from ten addresses) lock the account there, at the API's token endpoint
    and at the admin login alike; the right password is then refused with a clear message and signs nobody in."""
    membership = MembershipFactory(role=Role.ADMIN)
    email = membership.user.email

    for i in range(settings.LOGIN_FAILURE_LIMIT):
        failed = Client(REMOTE_ADDR=f"203.0.113.{i + 1}").post("/portal/login/", {"email": email, "password": "no"})
        assert failed.status_code == 400 and "Invalid email or password." in failed.content.decode()

    browser = Client(REMOTE_ADDR="198.51.100.42")
    locked = browser.post("/portal/login/", {"email": email.upper(), "password": PASSWORD})

    assert locked.status_code == 429 and int(locked["Retry-After"]) >= 1
    page = locked.content.decode()  # the portal's own page, with the form, not the API's JSON error
    assert locked["Content-Type"].startswith("text/html") and 'name="password"' in page
    assert "Too many failed sign-in attempts for this account. Try again in 15 minutes." in page
    assert "_auth_user_id" not in browser.session
    assert browser.get("/portal/").status_code == 302  # still sent to the login page
    api = Client().post("/api/v1/auth/token", {"email": email, "password": PASSWORD}, content_type="application/json")
    assert api.status_code == 429


def test_failures_elsewhere_lock_the_portal_login_too(settings):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 2
    membership = MembershipFactory()
    for _ in range(2):
        Client().post(
            "/api/v1/auth/token", {"email": membership.user.email, "password": "wrong"}, content_type="application/json"
        )

    response = Client().post("/portal/login/", {"email": membership.user.email, "password": PASSWORD})

    assert response.status_code == 429 and response["Content-Type"].startswith("text/html")
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_a_user_of_several_tenants_names_one_at_login():
    first = MembershipFactory(role=Role.MEMBER)
    second = MembershipFactory(user=first.user, role=Role.ADMIN)
    browser = Client()

    refused = browser.post("/portal/login/", {"email": first.user.email, "password": PASSWORD})
    assert refused.status_code == 400 and "several tenants" in refused.content.decode()

    browser.post("/portal/login/", {"email": first.user.email, "password": PASSWORD, "tenant": second.tenant.slug})
    assert "Admin" in browser.get("/portal/").content.decode()


def test_the_portal_may_be_framed_only_by_the_configured_origins(portal_client, settings):
    settings.PORTAL_FRAME_ANCESTORS = ["https://app.example.com", "https://*.customer.test", "javascript:alert(1)"]

    for response in (portal_client().get("/portal/catalog/"), Client().get("/portal/login/")):
        assert response["Content-Security-Policy"] == (
            "frame-ancestors 'self' https://app.example.com https://*.customer.test"
        )
        assert "X-Frame-Options" not in response
        assert response["Cache-Control"] == "no-store"


def test_without_configured_origins_only_the_service_itself_may_frame_it(portal_client):
    response = portal_client().get("/portal/")
    assert response["Content-Security-Policy"] == "frame-ancestors 'self'"


def test_the_tenant_theme_names_colours_and_brands_every_page(portal_client):
    client = portal_client()
    TenantTheme.objects.create(
        tenant=client.tenant,
        display_name="Acme Hiring",
        logo_url="https://cdn.acme.test/logo.png",
        primary_color="#aa3300",
    )

    page = client.get("/portal/catalog/").content.decode()

    assert "--primary: #aa3300;" in page
    assert "Acme Hiring" in page and 'src="https://cdn.acme.test/logo.png"' in page


def test_every_asset_is_served_by_the_app(portal_client):
    page = portal_client().get("/portal/catalog/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert sources and all(s.startswith("/static/portal/") for s in sources), sources
    assert Client().get("/static/portal/vendor/htmx-2.0.11.min.js").status_code == 200


# --- catalog and enabling --------------------------------------------------------------------------------------
def test_catalog_search_and_category_filter(portal_client):
    catalog_provider("stripe")
    catalog_provider("slack")
    client = portal_client()

    page = client.get("/portal/catalog/", {"q": "stripe"}).content.decode()
    assert 'data-testid="provider-stripe"' in page and 'data-testid="provider-slack"' not in page

    page = client.get("/portal/catalog/", {"category": "messaging"}).content.decode()
    assert 'data-testid="provider-slack"' in page and 'data-testid="provider-stripe"' not in page

    empty = client.get("/portal/catalog/", {"q": "no-such-thing"}).content.decode()
    assert "No provider matches" in empty

    bad = client.get("/portal/catalog/", {"category": "nonsense"}).content.decode()
    assert "category: must be one of" in bad


def test_enabling_a_provider_creates_the_integration_through_the_service(portal_client):
    catalog_provider("stripe")
    client = portal_client(Role.INTEGRATION_MANAGER)

    response = client.post("/portal/catalog/stripe/enable/", {"name": "Payments"})

    integration = Integration.objects.get(tenant=client.tenant)
    assert response.status_code == 302 and response["Location"] == f"/portal/integrations/{integration.pk}/"
    assert integration.name == "Payments" and integration.created_by == client.user
    assert ActivityLog.objects.filter(integration=integration, type="create", actor=client.user).exists()


def test_a_taken_name_is_shown_as_an_error_and_nothing_is_created(portal_client):
    client = portal_client()
    _stripe(client.tenant, name="Payments")

    response = client.post("/portal/catalog/stripe/enable/", {"name": "Payments"})

    assert response.status_code == 400
    assert "already" in response.content.decode()
    assert Integration.objects.filter(tenant=client.tenant).count() == 1


def test_settings_fields_come_from_the_providers_config_schema(portal_client):
    catalog_provider("custom_api")
    client = portal_client()

    form = client.get("/portal/catalog/custom_api/enable/").content.decode()
    assert 'name="config.baseUrl"' in form and "HTTPS base URL of the API" in form

    refused = client.post("/portal/catalog/custom_api/enable/", {"name": "Api", "config.baseUrl": "http://plain"})
    assert refused.status_code == 400 and not Integration.objects.filter(tenant=client.tenant).exists()

    client.post("/portal/catalog/custom_api/enable/", {"name": "Api", "config.baseUrl": "https://api.example.com"})
    assert Integration.objects.get(tenant=client.tenant).config["baseUrl"] == "https://api.example.com"


# --- integration page: connect, test, disconnect, versions, activity ---------------------------------------------
@responses.activate
def test_connecting_an_api_key_tests_it_stores_it_and_never_renders_it(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)

    response = client.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY})

    assert response.status_code == 302
    connection = Connection.objects.get(integration=integration)
    assert connection.status == "active" and connection.credentials == {"apiKey": STRIPE_KEY}
    page = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert STRIPE_KEY not in page
    assert "Connected" in page and "…StUv" in page and "sk_t…" not in page  # the last 4 characters only
    entry = ActivityLog.objects.get(integration=integration, type="connect")
    assert entry.actor == client.user


@responses.activate
def test_a_refused_key_is_reported_and_nothing_is_stored(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", status=401, json={"error": {"type": "x"}})

    client.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY})

    assert not Connection.objects.filter(integration=integration).exists()
    page = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert "rejected the credentials" in page and STRIPE_KEY not in page


@responses.activate
def test_test_connection_shows_the_outcome_as_an_htmx_fragment(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    client.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY})

    response = client.post(f"/portal/integrations/{integration.pk}/test/", headers={"HX-Request": "true"})

    body = response.content.decode()
    assert response.status_code == 200 and 'data-testid="test-result"' in body and "Connection works" in body
    assert "<html" not in body
    assert ActivityLog.objects.filter(integration=integration, type="test", status="success").exists()


@responses.activate
def test_disconnect_then_restore_a_version_from_the_page(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    client.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY})

    client.post(f"/portal/integrations/{integration.pk}/disconnect/")
    assert Connection.objects.get(integration=integration).status == "revoked"

    client.post(f"/portal/integrations/{integration.pk}/versions/2/restore/")
    integration.refresh_from_db()
    assert integration.current_version == 3
    page = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert "Version 2 restored as version 3" in page


@responses.activate
def test_restoring_credentials_from_a_version_is_an_admins_explicit_choice(portal_client):
    admin = portal_client(Role.ADMIN)
    manager = portal_client(Role.INTEGRATION_MANAGER, tenant=admin.tenant)
    integration = _stripe(admin.tenant)
    responses.add(responses.GET, "https://api.stripe.com/v1/balance", json=BALANCE)
    admin.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY})
    admin.post(f"/portal/integrations/{integration.pk}/disconnect/")
    restore = f"/portal/integrations/{integration.pk}/versions/2/restore/"

    assert 'name="restore_credentials"' not in manager.get(f"/portal/integrations/{integration.pk}/").content.decode()
    refused = manager.post(restore, {"restore_credentials": "1"})
    assert refused.status_code == 403 and "Only an admin may restore credentials" in refused.content.decode()
    manager.post(restore)  # config and settings only: the credentials stay erased
    assert Connection.objects.get(integration=integration).status == "revoked"

    assert 'name="restore_credentials"' in admin.get(f"/portal/integrations/{integration.pk}/").content.decode()
    admin.post(restore, {"restore_credentials": "1"})

    connection = Connection.objects.get(integration=integration)
    assert connection.status == "active" and connection.credentials == {"apiKey": STRIPE_KEY}


def test_versions_show_a_diff_and_the_activity_log_filters(portal_client):
    client = portal_client()
    provider = catalog_provider("custom_api")
    integration = integration_create(
        tenant=client.tenant, provider=provider, name="Api", config={"baseUrl": "https://a.example.com"}
    )
    from integrations.services import integration_update

    integration_update(integration=integration, changes={"config": {"baseUrl": "https://b.example.com"}})

    page = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert "config.baseUrl" in page and "https://a.example.com" in page and "https://b.example.com" in page

    only_updates = client.get(f"/portal/integrations/{integration.pk}/", {"type": "update"}).content.decode()
    assert "Integration updated" in only_updates and "created." not in only_updates


def test_the_health_chart_plots_the_recent_response_times(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    for ms in (120, 340, 90):
        HealthCheck.objects.create(tenant=client.tenant, integration=integration, status="healthy", response_time_ms=ms)

    page = client.get(f"/portal/integrations/{integration.pk}/").content.decode()

    assert "<polyline" in page and "90–340 ms" in page


def test_oauth_complete_never_returns_outside_the_portal_and_an_unknown_state_connects_nothing(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)
    base = f"/portal/integrations/{integration.pk}/oauth/complete"

    back = client.get(base, {"code": "c", "state": "not-ours", "next": "/portal/me/"})
    assert back["Location"] == "/portal/me/"
    outside = client.get(base, {"code": "c", "state": "not-ours", "next": "https://evil.example/"})
    assert outside["Location"] == f"/portal/integrations/{integration.pk}/"
    assert "The authorization request is unknown" in client.get(outside["Location"]).content.decode()
    assert not Connection.objects.filter(integration=integration).exists()


# --- roles ---------------------------------------------------------------------------------------------------------
def test_a_member_sees_read_only_pages(portal_client):
    client = portal_client(Role.MEMBER)
    catalog_provider("stripe")
    integration = _stripe(client.tenant)
    webhook = _webhook(client.tenant)

    catalog = client.get("/portal/catalog/").content.decode()
    detail = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    hooks = client.get("/portal/webhooks/").content.decode()
    hook = client.get(f"/portal/webhooks/{webhook.pk}/").content.decode()

    assert 'data-testid="provider-stripe"' in catalog and 'data-testid="enable-provider"' not in catalog
    assert 'data-testid="connection-status"' in detail
    assert 'data-testid="connect-api-key"' not in detail and 'data-testid="test-connection"' not in detail
    assert 'data-testid="webhook-new"' not in hooks and 'data-testid="send-test"' not in hook


def test_a_member_cannot_change_anything(portal_client):
    client = portal_client(Role.MEMBER)
    catalog_provider("stripe")
    integration = _stripe(client.tenant)
    webhook = _webhook(client.tenant)
    delivery = _delivery(webhook)

    attempts = [
        ("/portal/catalog/stripe/enable/", {"name": "Sneaky"}),
        (f"/portal/integrations/{integration.pk}/connect/", {"kind": "api_key", "apiKey": STRIPE_KEY}),
        (f"/portal/integrations/{integration.pk}/test/", {}),
        (f"/portal/integrations/{integration.pk}/disconnect/", {}),
        (f"/portal/integrations/{integration.pk}/delete/", {}),
        ("/portal/webhooks/", {"name": "x", "url": "http://127.0.0.1:9/h", "events": ["*"]}),
        (f"/portal/webhooks/{webhook.pk}/edit/", {"name": "renamed"}),
        (f"/portal/webhooks/{webhook.pk}/delete/", {}),
        (f"/portal/webhooks/{webhook.pk}/rotate-secret/", {}),
        (f"/portal/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/", {}),
    ]
    for path, data in attempts:
        assert client.post(path, data).status_code == 403, path
    assert Integration.objects.filter(tenant=client.tenant).count() == 1
    webhook.refresh_from_db()
    assert webhook.name == "Orders" and Webhook.objects.count() == 1


def test_an_integration_manager_cannot_delete(portal_client):
    client = portal_client(Role.INTEGRATION_MANAGER)
    integration = _stripe(client.tenant)
    webhook = _webhook(client.tenant)

    assert client.post(f"/portal/integrations/{integration.pk}/delete/").status_code == 403
    assert client.post(f"/portal/webhooks/{webhook.pk}/delete/").status_code == 403
    assert (
        'data-testid="delete-integration"' not in client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    )
    assert Integration.objects.filter(pk=integration.pk).exists() and Webhook.objects.filter(pk=webhook.pk).exists()


def test_an_admin_deletes_an_integration_and_the_deletion_is_in_the_activity_log(portal_client):
    client = portal_client()
    integration = _stripe(client.tenant)

    response = client.post(f"/portal/integrations/{integration.pk}/delete/")

    assert response.status_code == 302 and not Integration.objects.filter(pk=integration.pk).exists()
    assert ActivityLog.objects.filter(tenant=client.tenant, type="delete", actor=client.user).exists()


# --- tenant isolation ---------------------------------------------------------------------------------------------
def test_another_tenants_ids_are_404_on_every_page_and_action(portal_client):
    owner = portal_client()
    integration = _stripe(owner.tenant)
    webhook = _webhook(owner.tenant)
    delivery = _delivery(webhook)
    stranger = portal_client()

    gets = [
        f"/portal/integrations/{integration.pk}/",
        f"/portal/webhooks/{webhook.pk}/",
        f"/portal/webhooks/{webhook.pk}/deliveries/{delivery.pk}/",
        f"/portal/integrations/{integration.pk}/oauth/complete",
    ]
    posts = [
        f"/portal/integrations/{integration.pk}/connect/",
        f"/portal/integrations/{integration.pk}/test/",
        f"/portal/integrations/{integration.pk}/disconnect/",
        f"/portal/integrations/{integration.pk}/delete/",
        f"/portal/integrations/{integration.pk}/versions/1/restore/",
        f"/portal/webhooks/{webhook.pk}/edit/",
        f"/portal/webhooks/{webhook.pk}/delete/",
        f"/portal/webhooks/{webhook.pk}/rotate-secret/",
        f"/portal/webhooks/{webhook.pk}/test/",
        f"/portal/webhooks/{webhook.pk}/replay/",
        f"/portal/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/",
        f"/portal/me/{integration.pk}/disconnect/",
    ]
    for path in gets:
        assert stranger.get(path).status_code == 404, path
    for path in posts:
        assert stranger.post(path, {"kind": "api_key", "apiKey": "x", "name": "x"}).status_code == 404, path
    for path in ("/portal/", "/portal/webhooks/", "/portal/inbound/", "/portal/me/"):
        page = stranger.get(path).content.decode()
        assert str(integration.pk) not in page and str(webhook.pk) not in page and "Orders" not in page
    assert Integration.objects.filter(pk=integration.pk).exists() and Webhook.objects.filter(pk=webhook.pk).exists()


# --- CSRF --------------------------------------------------------------------------------------------------------
def test_every_form_needs_the_csrf_token(portal_client):
    client = portal_client(enforce_csrf=True)

    refused = client.post("/portal/webhooks/", {"name": "x", "url": "http://127.0.0.1:9/x", "events": ["*"]})
    assert refused.status_code == 403 and not Webhook.objects.exists()

    page = client.get("/portal/webhooks/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    accepted = client.post(
        "/portal/webhooks/",
        {"name": "x", "url": "http://127.0.0.1:9/x", "events": ["*"], "csrfmiddlewaretoken": token},
    )
    assert accepted.status_code == 302 and Webhook.objects.count() == 1


def test_the_logout_form_needs_the_csrf_token_too(portal_client):
    client = portal_client(enforce_csrf=True)
    assert client.post("/portal/logout/").status_code == 403
    assert client.get("/portal/").status_code == 200


# --- webhooks ----------------------------------------------------------------------------------------------------
def test_the_secret_is_shown_once_at_creation_and_at_rotation(portal_client):
    client = portal_client()

    created = client.post(
        "/portal/webhooks/",
        {"name": "Orders", "url": "http://127.0.0.1:9/in", "events": ["integration.created", "webhook.*"]},
    )

    webhook = Webhook.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/portal/webhooks/{webhook.pk}/"
    assert webhook.events == ["integration.created", "webhook.*"]
    [live] = webhook_live_secrets(webhook_id=webhook.pk)
    assert live not in str(dict(client.session))  # kept for the next view only, and encrypted
    body = client.get(created["Location"]).content.decode()
    secret = re.search(r'data-testid="webhook-secret">([^<]+)<', body).group(1)
    assert secret == live and secret.startswith("whsec_")
    assert secret not in client.get(f"/portal/webhooks/{webhook.pk}/").content.decode()

    client.post(f"/portal/webhooks/{webhook.pk}/rotate-secret/")
    rotated = client.get(f"/portal/webhooks/{webhook.pk}/").content.decode()
    new_secret = re.search(r'data-testid="webhook-secret">([^<]+)<', rotated).group(1)
    assert new_secret != secret and new_secret.startswith("whsec_")
    assert new_secret not in client.get(f"/portal/webhooks/{webhook.pk}/").content.decode()


def test_the_event_picker_lists_the_api_catalog_custom_types_included(portal_client):
    from webhooks.event_types import event_type_create

    event_type_create(
        name="contract.signed", description="A contract was signed.", schema={"type": "object"}, example={}
    )
    client = portal_client()

    page = client.get("/portal/webhooks/").content.decode()

    assert 'value="contract.signed"' in page and "A contract was signed." in page and 'value="contract.*"' in page
    assert 'value="integration.created"' in page
    created = client.post(
        "/portal/webhooks/", {"name": "Contracts", "url": "http://127.0.0.1:9/c", "events": ["contract.signed"]}
    )
    assert created.status_code == 302 and Webhook.objects.get().events == ["contract.signed"]


def test_a_v1a_subscription_shows_its_public_keys_and_rotation_shows_no_secret(portal_client):
    client = portal_client()
    webhook, secret = webhook_create(
        tenant=client.tenant, name="Signed", url="http://127.0.0.1:9/s", events=["*"], signature_scheme="v1a"
    )
    assert secret is None

    rotated = client.post(f"/portal/webhooks/{webhook.pk}/rotate-secret/")
    page = client.get(rotated["Location"]).content.decode()

    assert rotated.status_code == 302
    assert 'data-testid="webhook-secret"' not in page and "New signing key pair" in page
    keys = re.findall(r'data-testid="public-key">([^<]+)<', page)
    assert len(keys) == 2 and all(key.startswith("whpk_") for key in keys)
    assert ActivityLog.objects.filter(type="webhook", details__webhookId=str(webhook.pk), actor=client.user).exists()


def test_an_invalid_subscription_is_explained_and_nothing_is_created(portal_client):
    client = portal_client()
    response = client.post("/portal/webhooks/", {"name": "x", "url": "http://127.0.0.1:9/h", "events": ["nope.x"]})
    assert response.status_code == 400
    assert "Unknown event or pattern" in response.content.decode()
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {"name": "x" * 201, "url": "http://127.0.0.1:9/h", "events": ["*"]},
        {"name": "x", "url": "http://127.0.0.1:9/" + "a" * 2048, "events": ["*"]},
        {"name": "x", "url": "http://127.0.0.1:9/h", "events": ["a" * 101]},
        {"name": "x", "url": "http://127.0.0.1:9/h"},
    ],
)
def test_oversized_or_missing_input_is_a_400_not_a_crash(portal_client, form):
    client = portal_client()
    catalog_provider("stripe")
    assert client.post("/portal/webhooks/", form).status_code == 400
    assert client.post("/portal/catalog/stripe/enable/", {"name": "n" * 201}).status_code == 400
    assert not Webhook.objects.exists() and not Integration.objects.exists()


def test_editing_a_subscription_goes_through_the_service(portal_client):
    client = portal_client(Role.INTEGRATION_MANAGER)
    webhook = _webhook(client.tenant)

    client.post(
        f"/portal/webhooks/{webhook.pk}/edit/",
        {"name": "Renamed", "url": "http://127.0.0.1:9/other", "events": ["*"], "status": "inactive"},
    )

    webhook.refresh_from_db()
    assert (webhook.name, webhook.url, webhook.events, webhook.status) == (
        "Renamed",
        "http://127.0.0.1:9/other",
        ["*"],
        "inactive",
    )


def test_replay_counts_first_then_replays_on_confirmation(portal_client):
    client = portal_client()
    webhook = _webhook(client.tenant)
    for _ in range(3):
        _delivery(webhook, status="failed")
    _delivery(webhook, status="success")
    _delivery(webhook, status="failed", created_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")

    dry = client.post(f"/portal/webhooks/{webhook.pk}/replay/", {"since": since, "status": "failed", "dry_run": "1"})

    assert "3 deliveries in this window" in dry.content.decode()
    assert Delivery.objects.filter(status="pending").count() == 0

    done = client.post(f"/portal/webhooks/{webhook.pk}/replay/", {"since": since, "status": "failed", "confirm": "1"})

    assert done.status_code == 302
    assert Delivery.objects.filter(status="pending").count() == 3


def test_a_delivery_page_shows_attempts_with_signatures_masked(portal_client, receiver):
    client = portal_client()
    webhook, _secret = webhook_create(tenant=client.tenant, name="Local", url=receiver.url("/hook"), events=["*"])

    client.post(f"/portal/webhooks/{webhook.pk}/test/")

    delivery = Delivery.objects.get(webhook=webhook)
    page = client.get(f"/portal/webhooks/{webhook.pk}/deliveries/{delivery.pk}/").content.decode()
    assert page.count('data-testid="delivery-attempt"') == 1
    sent = receiver.received("/hook")[0]
    assert sent.header("webhook-signature") not in page and sent.header("X-Webhook-Signature") not in page
    assert "********" in page and "webhook.test" in page


# --- lists: no N+1 ---------------------------------------------------------------------------------------------------
def test_list_pages_take_a_fixed_number_of_queries(portal_client, django_assert_max_num_queries):
    from webhooks.models import InboundEndpoint, InboundEvent

    client = portal_client()
    for n in range(6):
        integration = _stripe(client.tenant, name=f"Billing {n}")
        endpoint = InboundEndpoint.objects.create(tenant=client.tenant, integration=integration, name=f"In {n}")
        for _ in range(3):
            InboundEvent.objects.create(tenant=client.tenant, endpoint=endpoint, body=b"{}", event_type="x")
        webhook = _webhook(client.tenant, name=f"Hook {n}")
        _delivery(webhook)
    webhook = Webhook.objects.filter(tenant=client.tenant).first()
    for _ in range(5):
        _delivery(webhook)

    providers_sync(entries=load_catalog())
    pages = ("/portal/", "/portal/catalog/", "/portal/inbound/", "/portal/webhooks/", f"/portal/webhooks/{webhook.pk}/")
    for path in (*pages, "/portal/me/"):
        with django_assert_max_num_queries(12):
            assert client.get(path).status_code == 200, path


def test_every_webhook_change_made_in_the_portal_is_an_activity_entry(portal_client, receiver):
    client = portal_client()
    client.post("/portal/webhooks/", {"name": "Orders", "url": receiver.url("/hook"), "events": ["*"]})
    webhook = Webhook.objects.get()
    client.post(
        f"/portal/webhooks/{webhook.pk}/edit/", {"name": "Orders v2", "url": receiver.url("/hook"), "events": ["*"]}
    )
    client.post(f"/portal/webhooks/{webhook.pk}/rotate-secret/")
    client.post(f"/portal/webhooks/{webhook.pk}/test/")
    delivery = Delivery.objects.get(webhook=webhook)
    client.post(f"/portal/webhooks/{webhook.pk}/deliveries/{delivery.pk}/retry/")

    entries = ActivityLog.objects.filter(tenant=client.tenant, type="webhook").order_by("created_at")
    assert [e.message for e in entries] == [
        "Webhook 'Orders' created.",
        "Webhook updated: events, name, url.",
        "Signing secret rotated.",
        "Test event delivered.",
        "Delivery sent again.",
    ]
    assert all(e.actor == client.user and e.details["webhookId"] == str(webhook.pk) for e in entries)
    page = client.get(f"/portal/webhooks/{webhook.pk}/").content.decode()
    assert page.count('data-testid="webhook-activity"') == 5
    secrets = webhook_live_secrets(webhook_id=webhook.pk)
    assert not any(s in str(e.details) + e.message for s in secrets for e in entries)

    client.post(f"/portal/webhooks/{webhook.pk}/delete/")
    assert ActivityLog.objects.filter(tenant=client.tenant, message="Webhook 'Orders v2' deleted.").exists()


@responses.activate
def test_basic_credentials_are_asked_for_with_the_providers_own_labels(portal_client):
    client = portal_client()
    integration = integration_create(tenant=client.tenant, provider=catalog_provider("twilio"), name="Sms")
    sid, token = "AC" + "0123456789abcdef" * 2, "twilio-auth-token-secret"
    responses.add(
        responses.GET, f"https://api.twilio.com/2010-04-01/Accounts/{sid}.json", json={"sid": sid, "status": "active"}
    )

    form = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert "Account Sid" in form and "Account SID (HTTP Basic username)." in form and "Auth Token" in form

    client.post(
        f"/portal/integrations/{integration.pk}/connect/", {"kind": "basic", "username": sid, "password": token}
    )

    assert Connection.objects.get(integration=integration).credentials == {"accountSid": sid, "authToken": token}
    assert token not in client.get(f"/portal/integrations/{integration.pk}/").content.decode()


@responses.activate
def test_custom_credentials_come_from_the_credential_schema_with_field_help(portal_client):
    client = portal_client()
    integration = integration_create(
        tenant=client.tenant, provider=catalog_provider("bamboohr"), name="Hr", config={"companyDomain": "acme"}
    )
    responses.add(responses.GET, "https://api.bamboohr.com/api/gateway.php/acme/v1/meta/users", json={})

    form = client.get(f"/portal/integrations/{integration.pk}/").content.decode()
    assert 'name="cred.apiKey"' in form and 'type="password"' in form and "sent as the HTTP Basic username" in form

    client.post(f"/portal/integrations/{integration.pk}/connect/", {"kind": "custom", "cred.apiKey": "bamboo-key-1"})

    assert Connection.objects.get(integration=integration).credentials == {"apiKey": "bamboo-key-1"}


def test_a_domain_error_no_form_expected_is_a_page_with_its_status(portal_client, monkeypatch):
    from config.errors import Conflict

    client = portal_client()
    webhook = _webhook(client.tenant)

    def busy(**kwargs):
        raise Conflict("Another rotation is running.")

    monkeypatch.setattr("webhooks.services.webhook_rotate_secret", busy)
    response = client.post(f"/portal/webhooks/{webhook.pk}/rotate-secret/")

    assert response.status_code == 409 and "Another rotation is running." in response.content.decode()
