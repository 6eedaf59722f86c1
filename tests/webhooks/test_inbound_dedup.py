"""Concurrent duplicates on PostgreSQL: one provider event sent N times at once is stored and processed once."""

# ruff: noqa: F811 - pytest fixtures imported from inbound_support are redefined as test arguments

import threading

import pytest
from django.db import connection
from django.test import Client

from tests.webhooks.inbound_support import emitted, endpoint, post_signed, stripe_event  # noqa: F401 - fixture
from webhooks import inbound as services
from webhooks.models import InboundEvent

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

N = 12


def _in_threads(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work(index)
        except Exception as exc:  # surfaced by the assertions below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_same_stripe_event_posted_concurrently_is_stored_and_enqueued_once(monkeypatch):
    ep = endpoint()
    enqueued = []
    monkeypatch.setattr(services, "_enqueue", lambda event_id: enqueued.append(event_id))
    body = stripe_event("evt_concurrent_duplicate")

    responses = _in_threads(N, lambda i: post_signed(Client(), ep, body))

    assert all(not isinstance(r, Exception) for r in responses), responses
    assert [r.status_code for r in responses] == [200] * N
    event_ids = {r.json()["eventId"] for r in responses}
    assert len(event_ids) == 1
    assert InboundEvent.objects.filter(endpoint=ep).count() == 1
    assert [str(e) for e in enqueued] == list(event_ids)


def test_concurrent_processing_of_one_event_emits_once(emitted):
    ep = endpoint()
    response = post_signed(Client(), ep, stripe_event("evt_processed_once"))
    event_id = response.json()["eventId"]

    results = _in_threads(N, lambda i: services.inbound_event_process(event_id=event_id))

    assert all(not isinstance(r, Exception) for r in results), results
    assert len(emitted.events("integration.event_received")) == 1
    event = InboundEvent.objects.get(pk=event_id)
    assert event.status == "processed" and event.attempts == 1


def test_distinct_events_posted_concurrently_are_all_stored(monkeypatch):
    ep = endpoint()
    monkeypatch.setattr(services, "_enqueue", lambda event_id: None)

    responses = _in_threads(N, lambda i: post_signed(Client(), ep, stripe_event(f"evt_distinct_{i}")))

    assert [getattr(r, "status_code", r) for r in responses] == [200] * N
    assert len({r.json()["eventId"] for r in responses}) == N
    assert InboundEvent.objects.filter(endpoint=ep).count() == N
