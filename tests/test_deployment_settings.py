"""Production defaults, read from a fresh settings import with only the environment given (DEBUG off)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
    "'proxy': getattr(settings, 'SECURE_PROXY_SSL_HEADER', None), 'hsts': settings.SECURE_HSTS_SECONDS, "
    "'session_secure': settings.SESSION_COOKIE_SECURE, 'csrf_secure': settings.CSRF_COOKIE_SECURE, "
    "'metrics_networks': settings.METRICS_ALLOWED_NETWORKS, 'trusted_proxies': settings.TRUSTED_PROXIES}))"
)


def production_settings(tmp_path, **extra) -> dict:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL")}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "s" * 50,
        "JWT_SIGNING_KEY": "j" * 50,
        "ENCRYPTION_KEYS": "eW3ms9fz6jeiUbyY4HU7gLwmc8CPhtoBXavM3hH24hc=",
        "VAR_DIR": str(tmp_path),
        **extra,
    }
    # An empty .env next to the code must not leak in: every variable the assertions read is given or defaulted.
    out = subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_trust_no_proxy_header_and_no_metrics_network(tmp_path):
    values = production_settings(tmp_path, PUBLIC_BASE_URL="http://api.example.test")

    assert values["proxy"] is None  # a client's own X-Forwarded-Proto: https does not make a request "secure"
    assert values["metrics_networks"] == []
    assert values["trusted_proxies"] == []
    assert values["hsts"] == 0 and values["session_secure"] is False


def test_an_https_public_url_turns_on_hsts_and_secure_cookies(tmp_path):
    values = production_settings(tmp_path, PUBLIC_BASE_URL="https://api.example.test")

    assert values["hsts"] >= 31536000
    assert values["session_secure"] is True and values["csrf_secure"] is True


def test_samesite_none_cookies_for_a_framed_portal_need_https(tmp_path):
    framed = {"SESSION_COOKIE_SAMESITE": "None", "CSRF_COOKIE_SAMESITE": "None"}

    assert production_settings(tmp_path, PUBLIC_BASE_URL="https://api.example.test", **framed)["session_secure"]
    with pytest.raises(subprocess.CalledProcessError) as refused:
        production_settings(tmp_path, PUBLIC_BASE_URL="http://api.example.test", **framed)
    assert "SameSite=None cookies need HTTPS" in refused.value.stderr


def test_the_operator_names_the_proxy_ssl_header(tmp_path):
    values = production_settings(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")

    assert values["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.django_db
def test_a_spoofed_forwarded_proto_does_not_make_a_request_secure(client, settings):
    """With the default (no proxy header), a client claiming https gets no secure-only treatment."""
    assert not hasattr(settings, "SECURE_PROXY_SSL_HEADER") or settings.SECURE_PROXY_SSL_HEADER is None
    from django.test import RequestFactory

    request = RequestFactory().get("/healthz", HTTP_X_FORWARDED_PROTO="https")
    assert request.is_secure() is False


def test_a_malformed_trusted_proxy_stops_start_up(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as info:
        production_settings(tmp_path, TRUSTED_PROXIES="10.0.0.0/8,not-a-network")
    assert "TRUSTED_PROXIES" in info.value.stderr
