import pytest

from tests.e2e.conftest import Receiver
from webhooks import services


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 that records what it is sent (replies programmable)."""
    server = Receiver().start()
    yield server
    server.stop()


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
