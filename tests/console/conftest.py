import pytest

from tests.console.support import seed
from tests.factories import UserFactory


@pytest.fixture
def seeded(db):
    return seed()


@pytest.fixture
def super_admin(db):
    return UserFactory(email="root@example.test", is_staff=True, is_superuser=True)


@pytest.fixture
def console(client, super_admin):
    """The Django test client signed in to the console as a super admin."""
    client.force_login(super_admin)
    return client
