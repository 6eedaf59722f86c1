"""Request authentication resolves the user, the membership and the tenant in one query (every API request pays it),
and a token whose ids are not UUIDs, or whose membership is gone, is a 401, never a 500."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TENANT_CLAIM, TenantJWTAuthentication
from tests.factories import MembershipFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def bearer(user_id, tenant_id) -> str:
    token = RefreshToken()
    token["user_id"] = str(user_id)
    token[TENANT_CLAIM] = str(tenant_id)
    return f"Bearer {token.access_token}"


def test_user_membership_and_tenant_come_in_one_query(django_assert_num_queries):
    membership = MembershipFactory(role="admin")
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=bearer(membership.user_id, membership.tenant_id))
    with django_assert_num_queries(1):
        user, _ = TenantJWTAuthentication().authenticate(Request(request))
        assert user == membership.user and user.email == membership.user.email
        assert user.active_membership == membership and user.active_membership.role == "admin"
        assert user.active_membership.tenant == membership.tenant
        assert user.active_membership.tenant.slug == membership.tenant.slug and user.is_active


@pytest.mark.parametrize("which", ["user", "tenant"])
def test_ids_that_are_not_uuids_are_a_401(client, which):
    membership = MembershipFactory()
    ids = {"user": membership.user_id, "tenant": membership.tenant_id, which: "1 OR 1=1"}
    response = client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=bearer(ids["user"], ids["tenant"]))
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")


def test_a_removed_membership_is_a_401(client):
    membership = MembershipFactory()
    header = bearer(membership.user_id, membership.tenant_id)
    assert client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=header).status_code == 200
    membership.delete()
    assert_error(client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=header), 401, "AUTHENTICATION_REQUIRED")
