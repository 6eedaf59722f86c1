"""Processing received events in the `inbound` task: provider handlers, platform events, failures, retries, replay."""

# ruff: noqa: F811 - pytest fixtures imported from inbound_support are redefined as test arguments

import json
from urllib.parse import urlencode

import pytest
from django.db import OperationalError

from tests.webhooks.inbound_support import (  # noqa: F401 - fixtures
    BASE,
    eager_celery,
    emitted,
    endpoint,
    integration,
    post_signed,
    stripe_event,
)
from webhooks import handlers
from webhooks import inbound as services
from webhooks.inbound_signatures import sign_for_test
from webhooks.models import InboundEvent
from webhooks.tasks.inbound import inbound_event_process_task, inbound_events_sweep_task

pytestmark = pytest.mark.django_db


def _receive(client, ep, body, *, content_type="application/json", headers=None, secret=None):
    signed = sign_for_test(ep.signature_scheme, body, secret or ep.secret, url=f"http://testserver{_path(ep)}")
    response = client.generic("POST", _path(ep), body, content_type=content_type, headers={**signed, **(headers or {})})
    assert response.status_code == 200, response.content
    return InboundEvent.objects.get(pk=response.json()["eventId"])


def _path(ep) -> str:
    return f"/api/v1/webhooks/receive/{ep.path}"


class TestEndToEnd:
    def test_stripe_invoice_paid_becomes_integration_event_received(
        self, anon_client, emitted, eager_celery, django_capture_on_commit_callbacks
    ):
        ep = endpoint()
        with django_capture_on_commit_callbacks(execute=True):
            event = _receive(anon_client, ep, stripe_event("evt_paid", "invoice.paid"))
        event.refresh_from_db()
        assert event.status == "processed"
        assert event.event_type == "invoice.paid"
        assert event.attempts == 1 and event.processed_at is not None and event.processing_ms is not None
        [data] = emitted.events("integration.event_received")
        assert data == {
            "integrationId": str(ep.integration_id),
            "provider": "stripe",
            "providerEventType": "invoice.paid",
            "providerEventId": "evt_paid",
            "inboundEventId": str(event.id),
            "data": json.loads(stripe_event())["data"],
        }
        assert emitted.calls[0][0] == ep.integration.tenant

    def test_subscribers_get_a_delivery_of_the_platform_event(
        self, anon_client, eager_celery, django_capture_on_commit_callbacks, monkeypatch
    ):
        from webhooks.models import Delivery, Webhook

        monkeypatch.setattr("webhooks.services.enqueue_deliveries", lambda *a, **k: None, raising=False)
        ep = endpoint()
        subscription = Webhook.objects.create(
            tenant=ep.tenant, name="Payments", url="https://example.com/hooks", events=["integration.event_received"]
        )
        with django_capture_on_commit_callbacks(execute=False):
            event = _receive(anon_client, ep, stripe_event("evt_sub"))
        services.inbound_event_process(event_id=event.id)
        delivery = Delivery.objects.get(webhook=subscription)
        assert delivery.event_type == "integration.event_received"
        assert delivery.event.payload["providerEventType"] == "invoice.paid"
        assert delivery.event.payload["providerEventId"] == "evt_sub"


class TestHandlers:
    def test_github_event_and_action(self, anon_client, emitted):
        ep = endpoint(integration(key="github"), secret="github-secret-value")
        body = json.dumps({"action": "opened", "number": 2, "pull_request": {"id": 1, "title": "Fix"}}).encode()
        headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
        event = _receive(anon_client, ep, body, headers=headers)
        services.inbound_event_process(event_id=event.id)
        event.refresh_from_db()
        assert event.event_type == "pull_request.opened"
        [data] = emitted.events()
        assert data["providerEventType"] == "pull_request.opened" and data["data"]["number"] == 2
        assert data["providerEventId"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"

    def test_github_form_encoded_payload(self, anon_client, emitted):
        ep = endpoint(integration(key="github"), secret="github-secret-value")
        body = urlencode({"payload": json.dumps({"action": "created", "issue": {"number": 5}})}).encode()
        headers = {"X-GitHub-Event": "issue_comment"}
        event = _receive(anon_client, ep, body, content_type="application/x-www-form-urlencoded", headers=headers)
        services.inbound_event_process(event_id=event.id)
        [data] = emitted.events()
        assert data["providerEventType"] == "issue_comment.created" and data["data"]["issue"] == {"number": 5}

    def test_github_ping_has_no_action(self, anon_client, emitted):
        ep = endpoint(integration(key="github"), secret="github-secret-value")
        event = _receive(anon_client, ep, b'{"zen": "Keep it logically awesome."}', headers={"X-GitHub-Event": "ping"})
        services.inbound_event_process(event_id=event.id)
        assert emitted.events()[0]["providerEventType"] == "ping"

    def test_slack_event_callback_uses_the_inner_event_type(self, anon_client, emitted):
        ep = endpoint(integration(key="slack"), secret="slack-signing-secret")
        body = json.dumps(
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "subtype": "channel_join"}}
        ).encode()
        event = _receive(anon_client, ep, body)
        services.inbound_event_process(event_id=event.id)
        assert emitted.events()[0]["providerEventType"] == "message.channel_join"

    def test_slack_interactivity_payload(self, anon_client, emitted):
        ep = endpoint(integration(key="slack"), secret="slack-signing-secret")
        body = urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "a"}]})}).encode()
        event = _receive(anon_client, ep, body, content_type="application/x-www-form-urlencoded")
        services.inbound_event_process(event_id=event.id)
        [data] = emitted.events()
        assert data["providerEventType"] == "interactive.block_actions"
        assert data["data"]["actions"] == [{"action_id": "a"}]

    def test_slack_slash_command(self, anon_client, emitted):
        ep = endpoint(integration(key="slack"), secret="slack-signing-secret")
        body = urlencode({"command": "/weather", "text": "94070"}).encode()
        event = _receive(anon_client, ep, body, content_type="application/x-www-form-urlencoded")
        services.inbound_event_process(event_id=event.id)
        [data] = emitted.events()
        assert data["providerEventType"] == "slash_command" and data["data"]["command"] == "/weather"

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"MessageSid": "SM1", "MessageStatus": "delivered"}, "message.delivered"),
            ({"MessageSid": "SM2", "SmsStatus": "received", "Body": "Hello"}, "message.received"),
            ({"CallSid": "CA1", "CallStatus": "completed"}, "call.completed"),
        ],
    )
    def test_twilio_form_callbacks(self, anon_client, emitted, params, expected):
        ep = endpoint(integration(key="twilio"), secret="twilio-auth-token-value")
        body = urlencode({"AccountSid": "AC1", **params}).encode()
        event = _receive(anon_client, ep, body, content_type="application/x-www-form-urlencoded")
        services.inbound_event_process(event_id=event.id)
        [data] = emitted.events()
        assert data["providerEventType"] == expected and data["data"]["AccountSid"] == "AC1"

    def test_default_handler_records_a_common_type_field(self, anon_client, emitted):
        ep = endpoint(integration(key="custom_webhook"), secret="custom-secret-value")
        event = _receive(anon_client, ep, b'{"event": "order.created", "order": {"id": 7}}')
        services.inbound_event_process(event_id=event.id)
        event.refresh_from_db()
        assert event.status == "processed" and event.event_type == "order.created"
        assert emitted.events()[0]["data"] == {"event": "order.created", "order": {"id": 7}}

    def test_default_handler_passes_a_non_json_body_as_text(self, anon_client, emitted):
        ep = endpoint(integration(key="custom_webhook"), secret="custom-secret-value")
        event = _receive(anon_client, ep, b"\xffplain \xfe", content_type="text/plain")
        services.inbound_event_process(event_id=event.id)
        event.refresh_from_db()
        assert event.status == "processed" and event.event_type == ""
        assert emitted.events()[0]["data"] == {"raw": "\ufffdplain \ufffd"}

    def test_registry_falls_back_to_the_default(self):
        assert handlers.handler_for("stripe") is handlers.stripe_handler
        assert handlers.handler_for("unknown_provider") is handlers.default_handler


class TestFailures:
    def test_handler_error_fails_the_event_with_its_message(self, anon_client, emitted, monkeypatch):
        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())

        def broken(context):
            raise KeyError("customer")

        monkeypatch.setitem(handlers.HANDLERS, "stripe", broken)
        services.inbound_event_process(event_id=event.id)
        event.refresh_from_db()
        assert event.status == "failed" and event.error == "KeyError: 'customer'"
        assert event.attempts == 1 and emitted.calls == []

    def test_emission_is_rolled_back_with_a_failing_handler(self, anon_client, monkeypatch):
        from webhooks.models import WebhookEvent

        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())

        def announce_then_fail(context):
            handlers.announce(context, "invoice.paid", {})
            raise ValueError("after announcing")

        monkeypatch.setitem(handlers.HANDLERS, "stripe", announce_then_fail)
        services.inbound_event_process(event_id=event.id)
        assert InboundEvent.objects.get(pk=event.id).status == "failed"
        assert not WebhookEvent.objects.filter(event="integration.event_received").exists()

    def test_transient_error_is_retried_then_processed(self, anon_client, emitted, eager_celery, monkeypatch):
        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())
        calls = []
        original = handlers.HANDLERS["stripe"]

        def flaky(context):
            calls.append(1)
            if len(calls) < 3:
                raise OperationalError("server closed the connection unexpectedly")
            return original(context)

        monkeypatch.setitem(handlers.HANDLERS, "stripe", flaky)
        monkeypatch.setattr("webhooks.tasks.inbound.retry_countdown", lambda retries: 0)
        inbound_event_process_task.delay(str(event.id))
        event.refresh_from_db()
        assert len(calls) == 3
        assert event.status == "processed" and event.attempts == 3 and event.error == ""
        assert len(emitted.events()) == 1

    def test_transient_errors_past_the_last_retry_fail_the_event(
        self, anon_client, emitted, eager_celery, monkeypatch, settings
    ):
        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())

        def down(context):
            raise services.TransientProcessingError("provider API unavailable")

        monkeypatch.setitem(handlers.HANDLERS, "stripe", down)
        monkeypatch.setattr("webhooks.tasks.inbound.retry_countdown", lambda retries: 0)
        monkeypatch.setattr(inbound_event_process_task, "max_retries", 2)
        inbound_event_process_task.delay(str(event.id))
        event.refresh_from_db()
        assert event.status == "failed" and event.attempts == 3
        assert event.error == "TransientProcessingError: provider API unavailable"

    def test_a_processed_event_is_not_processed_again(self, anon_client, emitted):
        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())
        services.inbound_event_process(event_id=event.id)
        services.inbound_event_process(event_id=event.id)
        inbound_event_process_task.apply(args=[str(event.id)])
        assert len(emitted.events()) == 1
        event.refresh_from_db()
        assert event.attempts == 1

    def test_a_deleted_event_is_a_no_op(self):
        assert services.inbound_event_process(event_id="00000000-0000-0000-0000-000000000000") is None


class TestReplay:
    def test_replay_through_the_api_runs_the_handler_again(
        self, admin_client, anon_client, emitted, eager_celery, django_capture_on_commit_callbacks
    ):
        ep = endpoint(integration(admin_client.tenant))
        event = _receive(anon_client, ep, stripe_event("evt_replayed"))
        services.inbound_event_process(event_id=event.id)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(f"{BASE}/{ep.id}/events/{event.id}/replay")
        assert response.status_code == 202
        event.refresh_from_db()
        assert event.status == "processed" and event.attempts == 2
        assert [d["providerEventId"] for d in emitted.events()] == ["evt_replayed", "evt_replayed"]

    def test_replay_of_a_failed_event_after_a_fix(self, anon_client, emitted, monkeypatch, eager_celery):
        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())
        monkeypatch.setitem(handlers.HANDLERS, "stripe", lambda context: 1 / 0)
        services.inbound_event_process(event_id=event.id)
        assert InboundEvent.objects.get(pk=event.id).status == "failed"
        monkeypatch.setitem(handlers.HANDLERS, "stripe", handlers.stripe_handler)
        services.inbound_event_replay(event=event)
        services.inbound_event_process(event_id=event.id)
        event.refresh_from_db()
        assert event.status == "processed" and event.error == "" and len(emitted.events()) == 1

    def test_admin_replay_action(self, anon_client, emitted, eager_celery, django_capture_on_commit_callbacks):
        from django.contrib.admin.sites import site

        from tests.factories import UserFactory

        ep = endpoint()
        event = _receive(anon_client, ep, stripe_event())
        InboundEvent.objects.filter(pk=event.pk).update(status="failed", error="boom")
        admin = UserFactory(is_staff=True, is_superuser=True)
        from django.test import Client

        browser = Client()
        browser.force_login(admin)
        with django_capture_on_commit_callbacks(execute=True):
            response = browser.post(
                "/admin/webhooks/inboundevent/", {"action": "replay", "_selected_action": [str(event.pk)]}
            )
        assert response.status_code == 302
        event.refresh_from_db()
        assert event.status == "processed"
        assert site.is_registered(InboundEvent)
        page = browser.get(f"/admin/webhooks/inboundevent/{event.pk}/change/")
        assert page.status_code == 200 and b"in_1NG8Dt2eZvKYlo2C0Xq9Y7Zb" in page.content


def test_sweeper_resends_events_a_lost_message_stranded(anon_client, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    ep = endpoint()
    old = _receive(anon_client, ep, stripe_event("evt_old"))
    fresh = _receive(anon_client, ep, stripe_event("evt_fresh"))
    InboundEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=1))
    sent = []
    monkeypatch.setattr(inbound_event_process_task, "delay", lambda event_id: sent.append(event_id))
    assert inbound_events_sweep_task() == 1
    assert sent == [str(old.id)] and str(fresh.id) not in sent
