import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TENANT_CLAIM
from accounts.models import Role
from tests.factories import MembershipFactory, UserFactory


def _services_available() -> tuple[bool, str]:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return False, "DATABASE_URL does not name PostgreSQL"
    if not settings.REDIS_URL:
        return False, "REDIS_URL is not set"
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return False, f"Redis does not answer: {exc}"
    return True, ""


def pytest_collection_modifyitems(config, items):
    needs = [item for item in items if item.get_closest_marker("services") or item.get_closest_marker("e2e")]
    if not needs:
        return
    ok, why = _services_available()
    if ok:
        return
    if settings.REQUIRE_SERVICES:
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but the services are missing: {why}")
    skip = pytest.mark.skip(reason=f"needs PostgreSQL and Redis ({why}); set DATABASE_URL and REDIS_URL")
    for item in needs:
        item.add_marker(skip)


def token_for(user, membership=None) -> str:
    refresh = RefreshToken.for_user(user)
    if membership is not None:
        refresh[TENANT_CLAIM] = str(membership.tenant_id)
    return str(refresh.access_token)


def client_for(membership=None, *, user=None) -> APIClient:
    client = APIClient()
    user = user or membership.user
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, membership)}")
    client.user, client.membership = user, membership
    client.tenant = membership.tenant if membership else None
    return client


@pytest.fixture
def make_client(db):
    """make_client(role=..., tenant=...) -> an authenticated APIClient for a new member of `tenant` (or a new one)."""

    def make(role: str = Role.ADMIN, tenant=None) -> APIClient:
        kwargs = {"role": role}
        if tenant is not None:
            kwargs["tenant"] = tenant
        return client_for(MembershipFactory(**kwargs))

    return make


@pytest.fixture
def admin_client(make_client):
    return make_client(Role.ADMIN)


@pytest.fixture
def other_tenant_client(make_client):
    """An admin of a second tenant: sees nothing of the first."""
    return make_client(Role.ADMIN)


@pytest.fixture
def super_admin_client(db):
    user = UserFactory(is_staff=True, is_superuser=True)
    return client_for(user=user)


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness would be most of the suite's run time; how passwords hash is Django's concern."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 that records what it is sent (replies programmable)."""
    from tests.e2e.conftest import Receiver

    server = Receiver().start()
    yield server
    server.stop()
