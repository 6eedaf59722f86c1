"""A full health round now (`manage.py run_health_checks`): batches per provider, every active or error integration,
idempotent redelivery, and --wait following the round to the last recorded check. The worker side with real
processes and an HTTP server is tests/e2e/test_health_round.py."""

from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.utils import timezone

from integrations.models import HealthCheck
from integrations.tasks import health as health_tasks
from integrations.tasks.health import health_check_batch_task, health_round_enqueue, health_round_pending
from tests.integrations.factories import IntegrationFactory, catalog_provider
from tests.integrations.test_health import BALANCE, BALANCE_URL, stripe_integration

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_backoff_sleep(monkeypatch):
    monkeypatch.setattr("providers.http._sleep", lambda seconds: None)


@pytest.fixture
def sent(monkeypatch):
    batches = []
    monkeypatch.setattr(
        health_check_batch_task, "apply_async", lambda args: batches.append((list(args[0]), args[1])) or None
    )
    return batches


def test_a_round_batches_every_active_and_error_integration_by_provider(sent, settings):
    settings.HEALTH_ROUND_BATCH_SIZE = 2
    stripe = [stripe_integration() for _ in range(3)]
    failing = stripe_integration(status="error")
    paused = stripe_integration(status="inactive")
    pending = stripe_integration(status="pending")
    slack = IntegrationFactory(provider=catalog_provider("slack"), status="active")

    started, ids = health_round_enqueue()

    assert set(ids) == {str(i.pk) for i in [*stripe, failing, slack]}
    assert str(paused.pk) not in ids and str(pending.pk) not in ids
    sizes = sorted(len(batch) for batch, _ in sent)
    assert sizes == [1, 2, 2]  # 4 Stripe integrations in batches of 2, Slack's alone: one provider per batch
    slack_batch = next(batch for batch, _ in sent if str(slack.pk) in batch)
    assert slack_batch == [str(slack.pk)]
    assert {not_before for _, not_before in sent} == {started.timestamp()}


@responses.activate
def test_a_batch_checks_each_integration_once_even_when_redelivered(settings):
    settings.HEALTH_ROUND_HOST_CONCURRENCY = 1  # in this thread: the test's transaction
    responses.get(BALANCE_URL, json=BALANCE)
    integrations = [stripe_integration() for _ in range(3)]
    paused = stripe_integration(status="inactive")
    ids = [str(i.pk) for i in [*integrations, paused]]
    started = timezone.now()

    assert health_check_batch_task(ids, started.timestamp()) == 3
    assert health_check_batch_task(ids, started.timestamp()) == 0  # a redelivered message
    assert len(responses.calls) == 3
    assert HealthCheck.objects.filter(trigger="scheduled", status="healthy").count() == 3
    assert not HealthCheck.objects.filter(integration=paused).exists()
    assert health_round_pending(ids=ids, started=started) == []


@responses.activate
def test_one_failing_check_does_not_stop_the_batch(settings, monkeypatch):
    settings.HEALTH_ROUND_HOST_CONCURRENCY = 1
    responses.get(BALANCE_URL, json=BALANCE)
    broken, fine = stripe_integration(), stripe_integration()
    real = health_tasks._check_one

    def check_one(integration, since):
        if integration.pk == broken.pk:
            raise RuntimeError("database hiccup")
        return real(integration, since)

    monkeypatch.setattr(health_tasks, "_check_one", check_one)
    started = timezone.now()
    assert health_check_batch_task([str(broken.pk), str(fine.pk)], started.timestamp()) == 1
    assert health_round_pending(ids=[str(broken.pk), str(fine.pk)], started=started) == [str(broken.pk)]


def test_pending_forgets_integrations_paused_or_deleted_during_the_round():
    waiting, paused, deleted = stripe_integration(), stripe_integration(), stripe_integration()
    ids = [str(waiting.pk), str(paused.pk), str(deleted.pk)]
    started = timezone.now()
    paused.status = "inactive"
    paused.save(update_fields=["status"])
    deleted.delete()
    assert health_round_pending(ids=ids, started=started) == [str(waiting.pk)]


@responses.activate
def test_the_command_waits_for_the_last_check_and_says_how_long_it_took(settings, monkeypatch):
    """The batches run here as the worker would run them (a real worker: tests/e2e/test_health_round.py)."""
    settings.HEALTH_ROUND_HOST_CONCURRENCY = 1
    responses.get(BALANCE_URL, json=BALANCE)
    integrations = [stripe_integration() for _ in range(5)]
    monkeypatch.setattr(health_check_batch_task, "apply_async", lambda args: health_check_batch_task(*args))
    out = StringIO()

    call_command("run_health_checks", "--wait", "--interval", "0", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "5 checks queued"
    assert lines[-1].startswith("5 checks in ") and lines[-1].endswith(" s")
    assert {c.integration_id for c in HealthCheck.objects.all()} == {i.pk for i in integrations}


def test_without_wait_the_command_only_queues(sent):
    stripe_integration()
    out = StringIO()
    call_command("run_health_checks", stdout=out)
    assert out.getvalue().strip() == "1 checks queued"
    assert len(sent) == 1 and not HealthCheck.objects.exists()


def test_wait_gives_up_after_the_timeout(sent):
    from django.core.management.base import CommandError

    stripe_integration()
    with pytest.raises(CommandError, match="0 of 1 checks recorded"):
        call_command("run_health_checks", "--wait", "--timeout", "0", stdout=StringIO())


def test_a_batch_keeps_at_most_the_host_concurrency_in_flight(settings, monkeypatch):
    import threading
    import time

    settings.HEALTH_ROUND_HOST_CONCURRENCY = 3
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "seen": []}

    def check_one(integration_id, since):  # the "integrations" are plain ids here: no database
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
            state["seen"].append(integration_id)
        return object()

    monkeypatch.setattr(health_tasks, "_check_one", check_one)
    monkeypatch.setattr(health_tasks, "_load_batch", lambda ids, since: list(ids))
    ids = [f"id-{n}" for n in range(12)]
    assert health_check_batch_task(ids, timezone.now().timestamp()) == 12
    assert state["peak"] == 3
    assert sorted(state["seen"]) == sorted(ids)
