"""The first five minutes: `/` says what this is and where to go; the API docs need no network."""

import re

from django.test import override_settings

from accounts.management.commands.seed_demo import DEMO_USERS, SUPER_ADMIN


def _links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def test_the_landing_page_links_every_surface(client, db):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Integration Framework" in html
    assert {"/admin/", "/portal/", "/api/docs/", "/api/redoc/", "/healthz", "/readyz"} <= _links(html)


def test_demo_logins_are_listed_in_debug_only(client, db):
    assert SUPER_ADMIN[1] not in client.get("/").content.decode()

    with override_settings(DEBUG=True):
        html = client.get("/").content.decode()
    for email, _role, password in DEMO_USERS:
        assert email in html and password in html
    assert SUPER_ADMIN[0] in html and SUPER_ADMIN[1] in html


def test_the_landing_page_answers_get_only(client, db):
    assert client.post("/").status_code == 405


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_swagger_ui_is_served_from_the_apps_own_static_files(client, db):
    response = client.get("/api/docs/")
    html = response.content.decode()
    assets = _assets(html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    assert all(a.startswith("/static/") for a in assets), assets
    assert "cdn" not in html.lower()
    assert "default-src 'self'" in response["Content-Security-Policy"]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_redoc_is_served_without_web_fonts_or_a_cdn(client, db):
    response = client.get("/api/redoc/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "fonts.googleapis" not in html and "cdn" not in html.lower()
    assets = _assets(html)
    assert any("redoc.standalone.js" in a for a in assets) and all(a.startswith("/static/") for a in assets)
    # ReDoc's bundle shows a logo from its CDN: the policy keeps the browser from fetching it.
    assert "img-src 'self' data:" in response["Content-Security-Policy"]
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
