import pytest

from webhooks import services


@pytest.fixture
def enqueued(monkeypatch):
    """Delivery tasks the code under test queued, as (delivery_id, countdown), instead of sending them to a broker."""
    calls = []

    def fake_enqueue(ids, countdown=None):
        ids = list(ids)
        calls.extend((i, countdown) for i in ids)
        return len(ids)

    monkeypatch.setattr(services, "enqueue_deliveries", fake_enqueue)
    return calls
