"""The console's dashboard: numbers drawn from the data, in a fixed number of queries, charts rendered inline."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from console import selectors
from tests.console.support import _delivery, seed


def test_the_dashboard_counts_what_was_delivered(seeded):
    data = selectors.dashboard(now=seeded.now)

    day = data.deliveries_24h
    assert {s: day.total(s) for s in ("success", "failed", "pending")} == seeded.counts
    # 6 successes and 5 failures finished in the last 24 h; one more success 3 days ago counts in the 7 days only.
    assert day.success_rate() == round(100 * 6 / 11, 1)
    assert data.deliveries.success_rate() == round(100 * 7 / 12, 1)
    assert len(data.deliveries.buckets) == 168 and len(day.buckets) == 24

    assert {s: data.inbound.total(s) for s in ("processed", "failed", "pending")} == seeded.inbound_counts
    assert data.integrations["pending"]["unknown"] == 2 and data.integration_total == 2
    assert [c.pk for c in data.connections_to_fix] == [seeded.expired_connection.pk]
    assert data.refresh_failure_count == 1


def test_failing_endpoints_are_the_worst_first_with_their_tenant_and_rate(seeded):
    worst = selectors.dashboard(now=seeded.now).failing_endpoints

    assert [(e.name, e.tenant, e.failures, e.success_rate) for e in worst] == [
        ("Broken CRM sync", "Globex", 4, 0.0),
        ("Orders to ERP", "Acme Corp", 1, round(100 * 7 / 8, 1)),
    ]
    assert worst[0].url == "http://127.0.0.1:9/broken"


def test_only_the_ten_worst_endpoints_are_listed(seeded):
    from webhooks import services

    for i in range(12):
        hook, _ = services.webhook_create(
            tenant=seeded.tenant, name=f"Extra {i:02}", url=f"http://127.0.0.1:9/x{i}", events=["*"]
        )
        _delivery(hook, status="failed", at=seeded.now - timedelta(hours=1), response_status=500)

    worst = selectors.dashboard(now=seeded.now).failing_endpoints
    assert len(worst) == 10 and worst[0].name == "Broken CRM sync"


def test_the_dashboard_reads_in_a_fixed_number_of_queries_whatever_the_data(db, django_assert_num_queries):
    seeded = seed()
    with django_assert_num_queries(8):
        selectors.dashboard(now=seeded.now)
    for hours_ago in range(30):
        _delivery(seeded.broken, status="failed", at=seeded.now - timedelta(hours=hours_ago), response_status=500)
    with django_assert_num_queries(8):
        selectors.dashboard(now=seeded.now)


def test_the_console_index_is_the_dashboard_with_charts_drawn_from_the_data(console, seeded):
    with CaptureQueriesContext(connection) as few:
        response = console.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()

    day_chart = re.search(r'<svg data-testid="chart-deliveries-24h".*?</svg>', html, re.S).group(0)
    drawn = {
        s: sum(int(n) for n in re.findall(rf'data-series="{s}" data-count="(\d+)"', day_chart)) for s in seeded.counts
    }
    assert drawn == seeded.counts
    inbound_chart = re.search(r'<svg data-testid="chart-inbound-24h".*?</svg>', html, re.S).group(0)
    assert sum(int(n) for n in re.findall(r'data-series="failed" data-count="(\d+)"', inbound_chart)) == 1
    assert f"{round(100 * 6 / 11, 1)} %" in html
    assert "Broken CRM sync" in html and "http://127.0.0.1:9/broken" in html
    assert "Globex CRM" in html  # the expired connection
    assert "Token refresh failed: invalid_grant" in html

    for hours_ago in range(20):
        _delivery(seeded.broken, status="failed", at=seeded.now - timedelta(hours=hours_ago), response_status=500)
    with CaptureQueriesContext(connection) as more:
        assert console.get("/admin/").status_code == 200
    assert len(more) == len(few)


def test_the_dashboard_is_for_staff_only(client, seeded):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_who_are_not_super_admins_see_no_cross_tenant_numbers(client, seeded):
    from tests.factories import UserFactory

    client.force_login(UserFactory(email="staff@example.test", is_staff=True, is_superuser=False))
    html = client.get("/admin/").content.decode()
    assert 'data-testid="dashboard"' not in html and "Broken CRM sync" not in html
