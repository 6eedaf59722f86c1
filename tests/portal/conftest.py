"""Portal fixtures: a Django test client signed into the portal as a member of a tenant, with a given role."""

import pytest
from django.test import Client

from accounts.models import Role
from portal.web import SESSION_KEY
from tests.factories import MembershipFactory


def sign_in(client: Client, membership) -> Client:
    """What a redeemed link or /portal/login leaves in the session: the user and the membership they act as."""
    client.force_login(membership.user)
    session = client.session
    session[SESSION_KEY] = str(membership.pk)
    session.save()
    client.membership, client.tenant, client.user = membership, membership.tenant, membership.user
    return client


@pytest.fixture
def portal_client(db):
    """portal_client(role=..., tenant=...) -> a signed-in test client for a new member of `tenant` (or a new one)."""

    def make(role: str = Role.ADMIN, tenant=None, *, enforce_csrf: bool = False) -> Client:
        kwargs = {"role": role} if tenant is None else {"role": role, "tenant": tenant}
        return sign_in(Client(enforce_csrf_checks=enforce_csrf), MembershipFactory(**kwargs))

    return make
