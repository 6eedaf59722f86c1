"""Values learnt while connecting (Salesforce `instance_url`, DocuSign `base_uri` / `account_id`) and every host that
comes from a placeholder: never from the tenant's config or credentials, validated against the provider's domains,
and always sent through the SSRF-guarded session (no private addresses, no redirects)."""
# ruff: noqa: F811 (pytest fixtures imported from tests.integrations.connection_support)

import json
import socket

import pytest
import responses

from accounts.models import Role
from integrations.models import Connection
from providers.clients.base import CheckKind
from providers.registry import get_client
from tests.e2e.conftest import Reply
from tests.helpers import assert_error
from tests.integrations.connection_support import (  # noqa: F401
    callback_redirect,
    finish_oauth,
    make_integration,
    no_backoff_sleep,
    oauth_clients,
    start_oauth,
)
from tests.integrations.factories import IntegrationFactory, catalog_provider

pytestmark = pytest.mark.django_db

INTERNAL_SECRET = "internal-only-7f3a"


def _internal_service(receiver) -> str:
    """An internal service on loopback that answers every path with something a tenant must never read."""
    body = {"records": [{"Id": INTERNAL_SECRET, "Name": INTERNAL_SECRET}], "DailyApiRequests": {"Max": 1}}
    receiver.default = Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return receiver.url("").rstrip("/")


@pytest.mark.parametrize(
    ("provider", "config", "entity"),
    [
        ("salesforce", lambda url: {"instanceUrl": url}, "account"),
        ("docusign", lambda url: {"baseUri": url, "accountId": "acc-1"}, "envelope"),
    ],
)
def test_a_manager_cannot_aim_a_learnt_url_at_an_internal_service(
    make_client, receiver, settings, provider, config, entity
):
    # Given production's SSRF policy and an internal service
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    internal = _internal_service(receiver)
    manager = make_client(Role.INTEGRATION_MANAGER)
    catalog_provider(provider)

    # When a manager types the internal address where the provider's answer belongs, stores any token, reads
    created = manager.post(
        "/api/v1/integrations",
        {"provider": provider, "name": "Aimed", "userScoped": False, "config": config(internal)},
        format="json",
    )
    assert created.status_code == 201, created.content
    integration_id = created.json()["id"]
    stored = manager.patch(
        f"/api/v1/integrations/{integration_id}/credentials",
        {"credentialType": "oauth", "credentials": {"accessToken": "any-token-at-all"}},
        format="json",
    )
    read = manager.get(f"/api/v1/integrations/{integration_id}/widgets/data", {"entity": entity})

    # Then nothing reached the internal service and nothing of it came back
    assert receiver.received() == []
    assert_error(stored, 400, "VALIDATION_ERROR")
    assert INTERNAL_SECRET not in stored.content.decode() + read.content.decode()
    assert read.status_code == 400
    assert not Connection.objects.filter(integration_id=integration_id, status="active").exists()


def test_config_and_credentials_never_fill_a_learnt_placeholder():
    integration = make_integration(
        IntegrationFactory().tenant, "salesforce", config={"instanceUrl": "https://evil.example.com"}
    )
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type="oauth2",
        credentials={"access_token": "tok-1234", "instanceUrl": "https://evil.example.com"},
        metadata={},
    )

    result = get_client(integration, connection=connection).health_check()

    assert result.kind == CheckKind.NOT_CONFIGURED and "instanceUrl" in result.message


@responses.activate
@pytest.mark.parametrize(
    "instance_url",
    [
        "https://evil.example.com",
        "https://salesforce.com.evil.example",
        "http://acme.my.salesforce.com",
        "https://user@acme.my.salesforce.com",
        "https://acme.my.salesforce.com:8443",
        "https://10.0.0.5",
    ],
)
def test_stored_metadata_outside_the_providers_domains_is_refused_before_any_call(instance_url):
    integration = make_integration(IntegrationFactory().tenant, "salesforce")
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type="oauth2",
        credentials={"access_token": "tok-1234"},
        metadata={"instanceUrl": instance_url},
    )

    result = get_client(integration, connection=connection).health_check()

    assert result.kind == CheckKind.NOT_CONFIGURED and "salesforce.com" in result.message
    assert len(responses.calls) == 0


@responses.activate
def test_a_token_response_with_an_instance_url_elsewhere_is_refused(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "salesforce")
    _url, state = start_oauth(admin_client, integration)
    responses.add(
        responses.POST,
        "https://login.salesforce.com/services/oauth2/token",
        json={
            "access_token": "00Dxx!AQ4AQ.sf-access",
            "refresh_token": "5Aep-sf-refresh",
            "instance_url": "https://metadata.internal.example",
            "token_type": "Bearer",
        },
    )

    back = callback_redirect(admin_client, {"code": "c-1", "state": state})
    response = finish_oauth(admin_client, integration, back["code"], back["state"])

    assert response.status_code == 400 and response.json()["error"] == "provider_error", response.content
    assert len(responses.calls) == 1  # the code was exchanged, the learnt URL refused before anything used it
    assert not Connection.objects.filter(integration=integration, status="active").exists()


@responses.activate
def test_docusign_userinfo_with_a_base_uri_elsewhere_is_refused(admin_client, oauth_clients):
    integration = make_integration(admin_client.tenant, "docusign", user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    responses.add(
        responses.POST,
        "https://account.docusign.com/oauth/token",
        json={"access_token": "ds-access", "refresh_token": "ds-refresh", "expires_in": 28800, "token_type": "Bearer"},
    )
    responses.add(
        responses.GET,
        "https://account.docusign.com/oauth/userinfo",
        json={
            "sub": "u-1",
            "accounts": [{"account_id": "acc-1", "is_default": True, "base_uri": "https://169.254.169.254"}],
        },
    )

    back = callback_redirect(admin_client, {"code": "c-1", "state": state})
    response = finish_oauth(admin_client, integration, back["code"], back["state"])

    assert response.status_code == 400 and response.json()["error"] == "provider_error", response.content
    assert not Connection.objects.filter(integration=integration, status="active").exists()


@responses.activate
def test_a_learnt_host_is_called_without_following_redirects():
    integration = make_integration(IntegrationFactory().tenant, "salesforce")
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type="oauth2",
        credentials={"access_token": "tok-1234"},
        metadata={"instanceUrl": "https://acme.my.salesforce.com"},
    )
    responses.add(
        responses.GET,
        "https://acme.my.salesforce.com/services/data/v60.0/limits",
        status=302,
        headers={"Location": "http://169.254.169.254/latest/meta-data/"},
    )
    responses.add(responses.GET, "http://169.254.169.254/latest/meta-data/", body="iam-role-secret")

    result = get_client(integration, connection=connection).health_check()

    assert not result.ok and result.status_code == 302
    assert [c.request.url for c in responses.calls] == ["https://acme.my.salesforce.com/services/data/v60.0/limits"]


def test_a_learnt_host_that_resolves_to_a_private_address_is_refused_at_connect_time(monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    integration = make_integration(IntegrationFactory().tenant, "salesforce")
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type="oauth2",
        credentials={"access_token": "tok-1234"},
        metadata={"instanceUrl": "https://acme.my.salesforce.com"},
    )
    connected = []
    monkeypatch.setattr(
        "webhooks.destinations._resolve",
        lambda host, port: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))],
    )
    monkeypatch.setattr(
        "urllib3.util.connection.create_connection",
        lambda *a, **k: connected.append(a) or (_ for _ in ()).throw(OSError),
    )

    result = get_client(integration, connection=connection).health_check()

    assert result.kind == CheckKind.NOT_CONFIGURED and "not allowed" in result.message
    assert connected == []


def test_a_tenant_typed_host_in_the_middle_of_the_url_goes_through_the_guard(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    integration = make_integration(
        IntegrationFactory().tenant, "workday", config={"host": "127.0.0.1", "tenant": "acme"}
    )
    connection = Connection(
        tenant=integration.tenant,
        integration=integration,
        auth_type="custom",
        credentials={"clientId": "c", "clientSecret": "s", "refreshToken": "r", "access_token": "tok-1234"},
    )

    result = get_client(integration, connection=connection).health_check()

    assert result.kind == CheckKind.NOT_CONFIGURED and "not allowed" in result.message


def test_a_token_endpoint_whose_host_comes_from_config_goes_through_the_guard(admin_client, monkeypatch, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    monkeypatch.setenv("ZENDESK_CLIENT_ID", "zd-client")
    monkeypatch.setenv("ZENDESK_CLIENT_SECRET", "zd-secret-XYZ")
    integration = make_integration(admin_client.tenant, "zendesk", config={"subdomain": "acme"}, user_scoped=False)
    _url, state = start_oauth(admin_client, integration)
    connected = []
    monkeypatch.setattr(
        "webhooks.destinations._resolve",
        lambda host, port: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.7.7", port))],
    )
    monkeypatch.setattr(
        "urllib3.util.connection.create_connection",
        lambda *a, **k: connected.append(a) or (_ for _ in ()).throw(OSError),
    )

    back = callback_redirect(admin_client, {"code": "c-1", "state": state})
    response = finish_oauth(admin_client, integration, back["code"], back["state"])

    assert response.status_code == 400 and response.json()["error"] == "token_endpoint_refused", response.content
    assert connected == []


def test_the_catalog_refuses_a_learnt_url_without_its_domains_or_typed_in_by_tenants():
    from providers.catalog_loader import CatalogError, validate_entry
    from tests.integrations.factories import catalog_entry

    no_domains = catalog_entry("salesforce")
    no_domains["oauthConfig"] = {k: v for k, v in no_domains["oauthConfig"].items() if k != "learntUrlDomains"}
    typed_in = catalog_entry("salesforce")
    typed_in["configSchema"] = {"type": "object", "properties": {"instanceUrl": {"type": "string"}}}

    with pytest.raises(CatalogError, match=r"oauthConfig\.learntUrlDomains: required when apiBaseUrl uses"):
        validate_entry(no_domains, source="<test>")
    with pytest.raises(CatalogError, match=r"configSchema\.properties\.instanceUrl: instanceUrl is learnt"):
        validate_entry(typed_in, source="<test>")


def test_a_full_url_handed_to_a_client_is_checked_too(settings):
    from providers.http import UnsafeBaseUrl

    settings.WEBHOOK_ALLOWED_NETWORKS = []
    integration = make_integration(IntegrationFactory().tenant, "stripe")
    client = get_client(integration, connection=Connection(integration=integration, auth_type="api_key"))

    with pytest.raises(UnsafeBaseUrl):
        client.request("GET", "https://169.254.169.254/latest/meta-data/")
