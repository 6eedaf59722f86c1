"""The auth proxy through real gunicorn processes: encoded separators caught on the raw request line, and one
provider rate budget shared by two web processes through Redis."""

import pytest
import requests

from integrations.models import Connection
from tests.conftest import token_for
from tests.e2e.conftest import Reply
from tests.factories import MembershipFactory
from tests.integrations.connection_support import make_integration
from tests.live import gunicorn, process_env


@pytest.mark.e2e
def test_two_web_processes_share_the_provider_budget_and_refuse_encoded_paths(transactional_db, receiver):
    membership = MembershipFactory()
    headers = {"Authorization": f"Bearer {token_for(membership.user, membership)}"}
    integration = make_integration(membership.tenant, "custom_api", config={"baseUrl": receiver.url("/api")})
    Connection.objects.create(
        tenant=integration.tenant,
        integration=integration,
        auth_type="api_key",
        status="active",
        credentials={"apiKey": "live-key-123456"},
    )
    receiver.script(
        "/api/items", Reply(status=200, body=b'{"items": []}', headers={"Content-Type": "application/json"})
    )
    receiver.script("/api/busy", Reply(status=429, body=b'{"error": "slow down"}', headers={"Retry-After": "30"}))
    env = process_env(WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8,::1/128", RATE_LIMIT_ENABLED="false")
    path = f"/api/v1/integrations/{integration.pk}/proxy"

    with gunicorn(env=env) as first, gunicorn(env=env) as second:
        ok = requests.get(f"{first}{path}/items", headers=headers, timeout=20)
        encoded = requests.get(f"{first}{path}/items%2Fsecret", headers=headers, timeout=20)
        busy = requests.get(f"{first}{path}/busy", headers=headers, timeout=20)
        spent = requests.get(f"{second}{path}/items", headers=headers, timeout=20)

    assert ok.status_code == 200 and ok.json() == {"items": []}
    assert encoded.status_code == 400 and encoded.json()["error"]["details"]["path"]
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "30"
    assert spent.status_code == 429 and spent.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(spent.headers["Retry-After"]) <= 30
    assert [r.path for r in receiver.received()] == ["/api/items", "/api/busy"]
    assert receiver.received()[0].header("Authorization") == "Bearer live-key-123456"
