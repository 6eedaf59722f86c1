"""Every form control on the portal's pages has a label, and every page has one main landmark and one h1."""

from html.parser import HTMLParser

import pytest
from django.test import Client

from integrations.services import integration_create
from tests.integrations.factories import catalog_provider
from webhooks.models import InboundEndpoint
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


class Controls(HTMLParser):
    def __init__(self):
        super().__init__()
        self.controls, self.label_for, self.h1, self.main = [], set(), 0, 0
        self._open_labels = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label":
            self._open_labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("input", "select", "textarea"):
            if attrs.get("type") not in ("hidden", "submit", "button"):
                self.controls.append((attrs, self._open_labels > 0))
        elif tag == "h1":
            self.h1 += 1
        elif tag == "main":
            self.main += 1

    def handle_endtag(self, tag):
        if tag == "label":
            self._open_labels -= 1


def _unlabelled(html: str) -> list[dict]:
    parser = Controls()
    parser.feed(html)
    assert parser.h1 == 1 and parser.main == 1
    return [
        attrs
        for attrs, wrapped in parser.controls
        if not wrapped and attrs.get("id") not in parser.label_for and not attrs.get("aria-label")
    ]


def test_every_control_on_every_page_has_a_label(portal_client):
    client = portal_client()
    integration = integration_create(tenant=client.tenant, provider=catalog_provider("stripe"), name="Billing")
    catalog_provider("custom_api")
    webhook, _ = webhook_create(tenant=client.tenant, name="Orders", url="http://127.0.0.1:9/x", events=["*"])
    InboundEndpoint.objects.create(tenant=client.tenant, integration=integration, name="Stripe events")
    pages = [
        "/portal/",
        "/portal/catalog/",
        "/portal/catalog/custom_api/enable/",
        f"/portal/integrations/{integration.pk}/",
        "/portal/webhooks/",
        f"/portal/webhooks/{webhook.pk}/",
        "/portal/inbound/",
        "/portal/me/",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert _unlabelled(response.content.decode()) == [], path
    assert _unlabelled(Client().get("/portal/login/").content.decode()) == []
