"""Platform behaviour that needs the real PostgreSQL and Redis, and real processes."""

import shutil
import subprocess
import time

import pytest
import requests

from tests.conftest import token_for
from tests.factories import MembershipFactory
from tests.live import free_port, gunicorn, process_env


@pytest.mark.e2e
def test_two_web_processes_share_one_rate_limit_budget(transactional_db):
    membership = MembershipFactory()
    headers = {"Authorization": f"Bearer {token_for(membership.user, membership)}"}
    env = process_env(RATE_LIMIT_ENABLED="true", RATE_LIMIT_DEFAULT="6/hour")

    with gunicorn(env=env) as first, gunicorn(env=env) as second:
        statuses = []
        for i in range(8):  # alternate between the two processes
            base = first if i % 2 == 0 else second
            response = requests.get(f"{base}/api/v1/auth/me", headers=headers, timeout=10)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
                assert int(response.headers["Retry-After"]) >= 1

    # Six allowed in total, not six per process (an hourly window: it does not roll over during the test).
    assert statuses == [200] * 6 + [429, 429]


@pytest.mark.services
@pytest.mark.django_db
def test_readyz_reports_a_stopped_redis(anon_client, settings, tmp_path):
    from config.celery import app

    server = shutil.which("redis-server")
    assert server, "redis-server is needed for this test"
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    old_broker = app.conf.broker_url
    try:
        _wait_for_redis(port)
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        app.conf.broker_url = url
        assert anon_client.get("/readyz").status_code == 200

        proc.terminate()
        proc.wait(timeout=10)

        response = anon_client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["failing"] == ["cache", "broker"]
        assert body["checks"]["database"] == "ok"
        assert "127.0.0.1" not in response.content.decode()  # no connection details leak
    finally:
        app.conf.broker_url = old_broker
        if proc.poll() is None:
            proc.kill()


def _wait_for_redis(port: int) -> None:
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis did not start")


@pytest.mark.services
def test_redis_cache_reuses_one_client_per_pool():
    from django.core.cache import cache

    cache.set("client-reuse", 1, timeout=5)
    first = cache._cache.get_client(write=True)
    assert cache.incr("client-reuse") == 2
    assert cache._cache.get_client(write=True) is first
