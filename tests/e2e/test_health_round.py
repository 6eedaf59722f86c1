"""`manage.py run_health_checks --wait` end to end: a real `celery worker` (prefork, like the default worker) checks
custom_api integrations whose API is an HTTP server on 127.0.0.1, and the command returns when the last is recorded."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.models import Connection, HealthCheck, Integration
from tests.factories import TenantFactory
from tests.integrations.factories import IntegrationFactory, catalog_provider

pytestmark = pytest.mark.e2e


def test_a_full_round_on_the_worker_checks_every_active_integration_once(celery_workers, receiver):
    tenant = TenantFactory()
    provider = catalog_provider("custom_api")
    checked = [
        IntegrationFactory(
            tenant=tenant,
            provider=provider,
            status="active" if n % 5 else "error",  # an error integration is checked too (to recover)
            config={"baseUrl": receiver.url(f"/api{n % 3}")},  # three hosts' worth of paths on one server
        )
        for n in range(24)
    ]
    paused = IntegrationFactory(tenant=tenant, provider=provider, status="inactive", config={"baseUrl": receiver.url()})
    for integration in [*checked, paused]:
        Connection.objects.create(
            tenant=tenant,
            integration=integration,
            auth_type="api_key",
            credentials={"apiKey": "sk_live_health_round_0123456789"},
            connected_at=timezone.now(),
        )
    celery_workers.start(
        queues="health",
        pool="prefork",
        concurrency=2,
        env={"HEALTH_ROUND_BATCH_SIZE": "5", "HEALTH_ROUND_HOST_CONCURRENCY": "3"},
    )
    out = StringIO()

    call_command("run_health_checks", "--wait", "--timeout", "180", "--interval", "0.5", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "24 checks queued"
    assert lines[-1].startswith("24 checks in "), celery_workers.logs()
    requests = receiver.received()
    assert len(requests) == 24
    assert {r.header("Authorization") for r in requests} == {"Bearer sk_live_health_round_0123456789"}
    assert HealthCheck.objects.filter(status="healthy", trigger="scheduled").count() == 24
    assert set(HealthCheck.objects.values_list("integration_id", flat=True)) == {i.pk for i in checked}
    assert set(Integration.objects.filter(pk__in=[i.pk for i in checked]).values_list("status", flat=True)) == {
        "active"
    }  # the error ones recovered
    assert not HealthCheck.objects.filter(integration=paused).exists()
