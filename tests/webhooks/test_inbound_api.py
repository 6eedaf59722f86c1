"""Inbound webhook endpoints API: CRUD, secrets (shown once), rotation, received events, replay, roles, tenancy."""

import re

import pytest

from accounts.models import Role
from tests.helpers import assert_error, assert_tenant_isolation
from tests.webhooks.inbound_support import (
    BASE,
    STRIPE_SECRET,
    endpoint,
    integration,
    post_signed,
    stripe_event,
)
from webhooks.inbound_signatures import sign_for_test
from webhooks.models import InboundEndpoint, InboundEvent

pytestmark = pytest.mark.django_db


def _create(client, integ, **body):
    return client.post(BASE, {"integrationId": str(integ.id), "name": "Stripe Payment Events", **body}, format="json")


class TestCreate:
    def test_generates_path_and_secret_and_shows_the_secret_once(self, admin_client, anon_client):
        integ = integration(admin_client.tenant)
        response = _create(admin_client, integ, description="Payments")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["secret"].startswith("whsec_")
        assert len(body["path"]) >= 22
        assert body["signatureScheme"] == "stripe"
        assert body["signatureHeader"] == "Stripe-Signature"
        assert body["url"] == f"http://testserver/api/v1/webhooks/receive/{body['path']}"
        assert body["integrationId"] == str(integ.id) and body["tenantId"] == str(integ.tenant_id)
        assert body["active"] is True and body["verifySignature"] is True
        # never again
        again = admin_client.get(f"{BASE}/{body['id']}").json()
        assert "secret" not in again
        listed = admin_client.get(BASE).json()["items"][0]
        assert "secret" not in listed
        # and the shown secret is the one that verifies
        ep = InboundEndpoint.objects.get(pk=body["id"])
        assert post_signed(anon_client, ep, stripe_event(), secret=body["secret"]).status_code == 200

    def test_a_chosen_secret_and_path_are_kept_and_the_secret_not_echoed(self, admin_client):
        integ = integration(admin_client.tenant)
        response = _create(
            admin_client,
            integ,
            path="stripe-payments",
            secret="whsec_custom_secret_abcdefghijklmnopqrstuvwxyz",
            signatureHeader="Stripe-Signature",
        )
        assert response.status_code == 201
        assert re.fullmatch(r"stripe-payments-[a-z0-9]{10}", response.json()["path"])
        assert response.json()["url"].endswith("/receive/" + response.json()["path"])
        assert response.json()["secret"] is None
        assert InboundEndpoint.objects.get().secret == "whsec_custom_secret_abcdefghijklmnopqrstuvwxyz"

    def test_seed_004_snake_case_body_is_accepted(self, admin_client):
        integ = integration(admin_client.tenant)
        response = admin_client.post(
            BASE,
            {
                "integration_id": str(integ.id),
                "name": "Twilio SMS Status",
                "verify_signature": True,
                "signature_header": "X-Twilio-Signature",
                "signature_scheme": "twilio",
                "secret": "twilio-auth-token-0123456789",
            },
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["signatureScheme"] == "twilio"

    def test_secret_is_stored_encrypted(self, admin_client):
        from django.db import connection

        integ = integration(admin_client.tenant)
        _create(admin_client, integ, secret="plain-text-secret-value")
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM webhooks_inboundendpoint")
            (stored,) = cursor.fetchone()
        assert "plain-text-secret-value" not in stored

    def test_provider_without_a_scheme_defaults_to_hmac_sha256(self, admin_client):
        integ = integration(admin_client.tenant, key="sendgrid")
        body = _create(admin_client, integ).json()
        assert body["signatureScheme"] == "hmac_sha256" and body["signatureHeader"] == "X-Signature"

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            ({"signatureScheme": "paypal"}, "signatureScheme"),
            ({"path": "has/slash"}, "path"),
            ({"path": "ab"}, "path"),
            ({"secret": "short"}, "secret"),
            ({"secret": "whsec_not base64!", "signatureScheme": "standard_webhooks"}, "secret"),
            ({"signatureHeader": "Bad Header:"}, "signatureHeader"),
            ({"active": "maybe"}, "active"),
            ({"unknownField": 1}, "unknownField"),
        ],
    )
    def test_invalid_fields_are_400_with_field_errors(self, admin_client, extra, field):
        integ = integration(admin_client.tenant)
        error = assert_error(_create(admin_client, integ, **extra), 400, "VALIDATION_ERROR")
        assert field in error["details"]
        assert InboundEndpoint.objects.count() == 0

    def test_missing_integration_and_name_are_400(self, admin_client):
        error = assert_error(admin_client.post(BASE, {}, format="json"), 400, "VALIDATION_ERROR")
        assert {"integrationId", "name"} <= set(error["details"])

    def test_another_tenants_integration_is_refused(self, admin_client):
        foreign = integration()
        error = assert_error(_create(admin_client, foreign), 400, "VALIDATION_ERROR")
        assert error["details"] == {"integrationId": ["Integration not found."]}

    def test_a_path_another_tenant_chose_is_not_revealed(self, admin_client, other_tenant_client):
        """Paths are global: a 409 here would tell the caller that another tenant has an endpoint at that path."""
        theirs = _create(other_tenant_client, integration(other_tenant_client.tenant), path="stripe-live")
        assert theirs.status_code == 201
        mine = _create(admin_client, integration(admin_client.tenant), path="stripe-live")
        assert mine.status_code == 201, mine.content
        assert mine.json()["path"].startswith("stripe-live-") and mine.json()["path"] != theirs.json()["path"]
        # and the other tenant's full path cannot be chosen either: it gets a suffix of its own
        again = _create(admin_client, integration(admin_client.tenant), path=theirs.json()["path"][:89])
        assert again.status_code == 201 and again.json()["path"] != theirs.json()["path"]

    def test_a_chosen_path_too_long_for_its_suffix_is_400(self, admin_client):
        error = assert_error(_create(admin_client, integration(admin_client.tenant), path="p" * 90), 400)
        assert "path" in error["details"]

    def test_member_cannot_create(self, make_client):
        member = make_client(Role.MEMBER)
        assert_error(_create(member, integration(member.tenant)), 403, "PERMISSION_DENIED")

    def test_integration_manager_can_create(self, make_client):
        manager = make_client(Role.INTEGRATION_MANAGER)
        assert _create(manager, integration(manager.tenant)).status_code == 201

    def test_anonymous_is_401(self, anon_client):
        assert_error(anon_client.get(BASE), 401, "AUTHENTICATION_REQUIRED")


class TestListAndDetail:
    def test_filters_by_integration_and_active(self, admin_client):
        a = integration(admin_client.tenant)
        b = integration(admin_client.tenant)
        e1 = endpoint(a, name="one")
        e2 = endpoint(b, name="two", active=False)
        ids = lambda q: [item["id"] for item in admin_client.get(f"{BASE}{q}").json()["items"]]  # noqa: E731
        assert set(ids("")) == {str(e1.id), str(e2.id)}
        assert ids(f"?integrationId={a.id}") == [str(e1.id)]
        assert ids("?active=false") == [str(e2.id)]
        assert ids("?active=true") == [str(e1.id)]
        assert ids("?sortBy=name&sortOrder=desc") == [str(e2.id), str(e1.id)]

    @pytest.mark.parametrize("query", ["?active=perhaps", "?integrationId=nope", "?sortBy=secret", "?limit=0"])
    def test_bad_filters_are_400(self, admin_client, query):
        assert_error(admin_client.get(f"{BASE}{query}"), 400, "VALIDATION_ERROR")

    def test_list_is_paginated_with_constant_queries(self, admin_client, django_assert_max_num_queries):
        integ = integration(admin_client.tenant)
        for n in range(3):
            endpoint(integ, name=f"e{n}")
        with django_assert_max_num_queries(6):
            first = admin_client.get(f"{BASE}?limit=2").json()
        for n in range(3, 12):
            endpoint(integ, name=f"e{n}")
        with django_assert_max_num_queries(6):
            page = admin_client.get(f"{BASE}?limit=100").json()
        assert first["total"] == 3 and first["hasMore"] is True and first["nextOffset"] == 2
        assert page["total"] == 12 and len(page["items"]) == 12

    def test_member_can_read(self, make_client):
        member = make_client(Role.MEMBER)
        ep = endpoint(integration(member.tenant))
        assert member.get(f"{BASE}/{ep.id}").json()["id"] == str(ep.id)

    def test_unknown_id_is_404(self, admin_client):
        assert_error(admin_client.get(f"{BASE}/00000000-0000-0000-0000-000000000000"), 404, "INBOUND_WEBHOOK_NOT_FOUND")


class TestUpdateAndDelete:
    def test_patch_changes_fields_and_keeps_the_secret(self, admin_client):
        ep = endpoint(integration(admin_client.tenant))
        response = admin_client.patch(
            f"{BASE}/{ep.id}", {"name": "Renamed", "active": False, "path": "renamed-path"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["name"] == "Renamed" and response.json()["active"] is False
        ep.refresh_from_db()
        assert ep.path.startswith("renamed-path-") and ep.secret == STRIPE_SECRET
        # sending the current path back (GET-modify-PUT) keeps it as it is
        same = admin_client.patch(f"{BASE}/{ep.id}", {"path": ep.path}, format="json")
        assert same.status_code == 200 and same.json()["path"] == ep.path

    def test_put_with_seed_004_body(self, admin_client):
        ep = endpoint(integration(admin_client.tenant))
        body = {
            "name": "Stripe Payment Events (Updated)",
            "description": "Updated webhook for Stripe payment events",
            "path": "stripe-payments-updated",
            "active": True,
            "verify_signature": True,
            "signature_header": "Stripe-Signature",
        }
        response = admin_client.put(f"{BASE}/{ep.id}", body, format="json")
        assert response.status_code == 200
        assert response.json()["path"].startswith("stripe-payments-updated-")

    def test_changing_the_scheme_moves_the_default_header(self, admin_client):
        ep = endpoint(integration(admin_client.tenant))
        body = admin_client.patch(f"{BASE}/{ep.id}", {"signatureScheme": "github"}, format="json").json()
        assert body["signatureHeader"] == "X-Hub-Signature-256"

    def test_new_secret_by_update_replaces_the_old_one_at_once(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant))
        admin_client.patch(f"{BASE}/{ep.id}", {"secret": "whsec_brand_new_secret_value"}, format="json")
        ep.refresh_from_db()
        assert post_signed(anon_client, ep, stripe_event("evt_a"), secret=STRIPE_SECRET).status_code == 401
        ok = post_signed(anon_client, ep, stripe_event("evt_b"), secret="whsec_brand_new_secret_value")
        assert ok.status_code == 200

    def test_path_of_another_endpoint_is_no_conflict(self, admin_client):
        integ = integration(admin_client.tenant)
        first = endpoint(integ, path="first-path")
        second = endpoint(integ)
        response = admin_client.patch(f"{BASE}/{second.id}", {"path": "first-path"}, format="json")
        assert response.status_code == 200
        assert response.json()["path"].startswith("first-path-") and response.json()["path"] != first.path

    def test_member_cannot_update(self, make_client):
        member = make_client(Role.MEMBER)
        ep = endpoint(integration(member.tenant))
        assert_error(member.patch(f"{BASE}/{ep.id}", {"name": "x"}, format="json"), 403, "PERMISSION_DENIED")

    def test_admin_deletes_with_its_events(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant))
        post_signed(anon_client, ep, stripe_event())
        assert admin_client.delete(f"{BASE}/{ep.id}").status_code == 204
        assert not InboundEndpoint.objects.exists() and not InboundEvent.objects.exists()

    def test_integration_manager_cannot_delete(self, make_client):
        manager = make_client(Role.INTEGRATION_MANAGER)
        ep = endpoint(integration(manager.tenant))
        assert_error(manager.delete(f"{BASE}/{ep.id}"), 403, "PERMISSION_DENIED")
        assert InboundEndpoint.objects.filter(pk=ep.pk).exists()


class TestRotateSecret:
    def test_returns_a_new_secret_that_verifies_and_keeps_the_old_one_for_the_grace(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant))
        response = admin_client.post(f"{BASE}/{ep.id}/rotate-secret")
        assert response.status_code == 200
        secret = response.json()["secret"]
        assert secret.startswith("whsec_") and secret != STRIPE_SECRET
        assert response.json()["previousSecretExpiresAt"] is not None
        assert post_signed(anon_client, ep, stripe_event("evt_new"), secret=secret).status_code == 200
        assert post_signed(anon_client, ep, stripe_event("evt_old"), secret=STRIPE_SECRET).status_code == 200
        assert "secret" not in admin_client.get(f"{BASE}/{ep.id}").json()

    def test_zero_grace_drops_the_old_secret(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant))
        response = admin_client.post(f"{BASE}/{ep.id}/rotate-secret", {"graceSeconds": 0}, format="json")
        assert response.json()["previousSecretExpiresAt"] is None
        assert post_signed(anon_client, ep, stripe_event(), secret=STRIPE_SECRET).status_code == 401

    def test_bad_grace_is_400(self, admin_client):
        ep = endpoint(integration(admin_client.tenant))
        response = admin_client.post(f"{BASE}/{ep.id}/rotate-secret", {"graceSeconds": -1}, format="json")
        assert_error(response, 400, "VALIDATION_ERROR")

    def test_member_cannot_rotate(self, make_client):
        member = make_client(Role.MEMBER)
        ep = endpoint(integration(member.tenant))
        assert_error(member.post(f"{BASE}/{ep.id}/rotate-secret"), 403, "PERMISSION_DENIED")


class TestEvents:
    def _events(self, client, anon_client):
        ep = endpoint(integration(client.tenant))
        for n in range(3):
            post_signed(anon_client, ep, stripe_event(f"evt_{n}"))
        InboundEvent.objects.filter(provider_event_id="evt_0").update(status="failed", error="boom")
        return ep

    def test_lists_received_events_newest_first_with_status_filter(self, admin_client, anon_client):
        ep = self._events(admin_client, anon_client)
        body = admin_client.get(f"{BASE}/{ep.id}/events").json()
        assert body["total"] == 3
        assert [item["providerEventId"] for item in body["items"]] == ["evt_2", "evt_1", "evt_0"]
        item = body["items"][0]
        assert item["status"] == "pending" and item["endpointId"] == str(ep.id)
        assert item["bodySize"] == len(stripe_event("evt_2"))
        assert "Stripe-Signature" in item["headers"]
        assert "body" not in item
        failed = admin_client.get(f"{BASE}/{ep.id}/events?status=failed").json()
        assert [i["providerEventId"] for i in failed["items"]] == ["evt_0"] and failed["items"][0]["error"] == "boom"

    def test_bad_status_filter_is_400(self, admin_client):
        ep = endpoint(integration(admin_client.tenant))
        assert_error(admin_client.get(f"{BASE}/{ep.id}/events?status=done"), 400, "VALIDATION_ERROR")

    def test_events_list_has_constant_queries(self, admin_client, anon_client, django_assert_max_num_queries):
        ep = self._events(admin_client, anon_client)
        with django_assert_max_num_queries(6):
            admin_client.get(f"{BASE}/{ep.id}/events")
        for n in range(3, 10):
            post_signed(anon_client, ep, stripe_event(f"evt_{n}"))
        with django_assert_max_num_queries(6):
            assert admin_client.get(f"{BASE}/{ep.id}/events").json()["total"] == 10

    def test_event_detail_has_the_raw_body(self, admin_client, anon_client):
        ep = endpoint(integration(admin_client.tenant, key="custom_webhook"), secret="custom-secret-value")
        raw = b"\xff\xfe binary"
        post = anon_client.generic(
            "POST",
            f"/api/v1/webhooks/receive/{ep.path}",
            raw,
            content_type="application/octet-stream",
            headers=sign_for_test("hmac_sha256", raw, "custom-secret-value"),
        )
        event_id = post.json()["eventId"]
        detail = admin_client.get(f"{BASE}/{ep.id}/events/{event_id}").json()
        assert detail["body"] is None and detail["bodyBase64"] == "//4gYmluYXJ5"
        ep2 = endpoint(integration(admin_client.tenant))
        event2 = post_signed(anon_client, ep2, stripe_event()).json()["eventId"]
        detail2 = admin_client.get(f"{BASE}/{ep2.id}/events/{event2}").json()
        assert detail2["body"] == stripe_event().decode() and detail2["bodyBase64"] is None

    def test_event_of_another_endpoint_is_404(self, admin_client, anon_client):
        integ = integration(admin_client.tenant)
        a, b = endpoint(integ), endpoint(integ)
        event_id = post_signed(anon_client, a, stripe_event()).json()["eventId"]
        assert_error(admin_client.get(f"{BASE}/{b.id}/events/{event_id}"), 404, "INBOUND_EVENT_NOT_FOUND")
        assert_error(admin_client.post(f"{BASE}/{b.id}/events/{event_id}/replay"), 404, "INBOUND_EVENT_NOT_FOUND")

    def test_replay_puts_the_event_back_to_pending_and_enqueues_it(
        self, admin_client, anon_client, django_capture_on_commit_callbacks
    ):
        ep = self._events(admin_client, anon_client)
        failed = InboundEvent.objects.get(provider_event_id="evt_0")
        with django_capture_on_commit_callbacks() as callbacks:
            response = admin_client.post(f"{BASE}/{ep.id}/events/{failed.id}/replay")
        assert response.status_code == 202
        assert response.json()["status"] == "pending" and response.json()["error"] == ""
        assert len(callbacks) == 1

    def test_member_can_list_but_not_replay(self, make_client, anon_client):
        member = make_client(Role.MEMBER)
        ep = endpoint(integration(member.tenant))
        event_id = post_signed(anon_client, ep, stripe_event()).json()["eventId"]
        assert member.get(f"{BASE}/{ep.id}/events").status_code == 200
        assert_error(member.post(f"{BASE}/{ep.id}/events/{event_id}/replay"), 403, "PERMISSION_DENIED")


def test_tenant_isolation(admin_client, other_tenant_client, anon_client):
    ep = endpoint(integration(admin_client.tenant))
    event_id = post_signed(anon_client, ep, stripe_event()).json()["eventId"]
    assert_tenant_isolation(
        other_tenant_client,
        [
            BASE,
            f"{BASE}?integrationId={ep.integration_id}",
            f"{BASE}/{ep.id}",
            ("patch", f"{BASE}/{ep.id}", {"name": "mine now"}),
            ("put", f"{BASE}/{ep.id}", {"name": "mine now"}),
            ("post", f"{BASE}/{ep.id}/rotate-secret", {}),
            f"{BASE}/{ep.id}/events",
            f"{BASE}/{ep.id}/events/{event_id}",
            ("post", f"{BASE}/{ep.id}/events/{event_id}/replay", {}),
            ("delete", f"{BASE}/{ep.id}"),
        ],
        [ep.id, event_id],
    )
    ep.refresh_from_db()
    assert ep.name == "Hooks" and ep.secret == STRIPE_SECRET


class TestAdmin:
    @pytest.fixture
    def browser(self):
        from django.test import Client

        from tests.factories import UserFactory

        client = Client()
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
        return client

    def test_endpoint_pages_never_show_the_secret(self, browser):
        ep = endpoint()
        assert browser.get("/admin/webhooks/inboundendpoint/").status_code == 200
        page = browser.get(f"/admin/webhooks/inboundendpoint/{ep.pk}/change/")
        assert page.status_code == 200
        assert STRIPE_SECRET.encode() not in page.content and ep.path.encode() in page.content

    def test_rotate_action_keeps_the_old_secret_for_the_grace(self, browser):
        ep = endpoint()
        response = browser.post(
            "/admin/webhooks/inboundendpoint/", {"action": "rotate_secret", "_selected_action": [str(ep.pk)]}
        )
        assert response.status_code == 200  # the page showing the new secret, once
        ep.refresh_from_db()
        assert ep.secret in response.content.decode()
        assert ep.secret != STRIPE_SECRET and ep.previous_secret == STRIPE_SECRET
        assert ep.previous_secret_expires_at is not None

    def test_event_list_renders(self, browser, anon_client):
        ep = endpoint()
        post_signed(anon_client, ep, stripe_event())
        page = browser.get("/admin/webhooks/inboundevent/?status__exact=pending")
        assert page.status_code == 200 and b"evt_1NG8Du2eZvKYlo2CUI79vXWy" in page.content
