import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
ME_URL = "/api/v1/auth/me"


def login(client, email, password=PASSWORD, **extra):
    return client.post(TOKEN_URL, {"email": email, "password": password, **extra}, format="json")


def test_login_returns_a_token_pair_that_authenticates_me(anon_client):
    membership = MembershipFactory(role=Role.INTEGRATION_MANAGER)

    response = login(anon_client, membership.user.email)

    assert response.status_code == 200
    tokens = response.json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = anon_client.get(ME_URL).json()
    assert me == {
        "id": str(membership.user.id),
        "email": membership.user.email,
        "tenant": {"id": str(membership.tenant.id), "slug": membership.tenant.slug, "name": membership.tenant.name},
        "role": "integration_manager",
        "permissions": ["integrations:create", "integrations:read", "integrations:update"],
        "isSuperAdmin": False,
    }


def test_login_is_case_insensitive_on_email(anon_client):
    membership = MembershipFactory()
    assert login(anon_client, membership.user.email.upper()).status_code == 200


def test_wrong_password_and_unknown_email_answer_alike(anon_client):
    membership = MembershipFactory()
    wrong = assert_error(login(anon_client, membership.user.email, "nope-nope-nope"), 401, "AUTHENTICATION_REQUIRED")
    unknown = assert_error(login(anon_client, "ghost@example.test"), 401, "AUTHENTICATION_REQUIRED")
    assert wrong["message"] == unknown["message"]


def test_refresh_gives_a_new_access_token_for_the_same_tenant(anon_client):
    membership = MembershipFactory()
    refresh = login(anon_client, membership.user.email).json()["refresh"]

    response = anon_client.post(REFRESH_URL, {"refresh": refresh}, format="json")

    assert response.status_code == 200
    access = AccessToken(response.json()["access"])
    assert access["tenant_id"] == str(membership.tenant_id)


def test_refresh_with_a_forged_token_is_401(anon_client):
    assert_error(anon_client.post(REFRESH_URL, {"refresh": "not.a.jwt"}, format="json"), 401, "AUTHENTICATION_REQUIRED")


def test_refresh_is_refused_once_the_tenant_is_deactivated(anon_client):
    membership = MembershipFactory()
    refresh = login(anon_client, membership.user.email).json()["refresh"]
    membership.tenant.is_active = False
    membership.tenant.save()

    assert_error(anon_client.post(REFRESH_URL, {"refresh": refresh}, format="json"), 401)


def test_inactive_user_cannot_log_in_nor_use_an_issued_token(anon_client):
    membership = MembershipFactory()
    access = login(anon_client, membership.user.email).json()["access"]
    membership.user.is_active = False
    membership.user.save()

    assert_error(login(anon_client, membership.user.email), 401)
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert_error(anon_client.get(ME_URL), 401, "AUTHENTICATION_REQUIRED")


def test_inactive_tenant_refuses_its_users(anon_client):
    membership = MembershipFactory()
    access = login(anon_client, membership.user.email).json()["access"]
    membership.tenant.is_active = False
    membership.tenant.save()

    assert_error(login(anon_client, membership.user.email), 401)
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    error = assert_error(anon_client.get(ME_URL), 401)
    assert "inactive" in error["message"].lower()


def test_user_of_several_tenants_must_name_one(anon_client):
    user = UserFactory()
    first, second = TenantFactory(), TenantFactory()
    MembershipFactory(user=user, tenant=first)
    MembershipFactory(user=user, tenant=second, role=Role.MEMBER)

    assert_error(login(anon_client, user.email), 400, "VALIDATION_ERROR")
    tokens = login(anon_client, user.email, tenant=second.slug).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = anon_client.get(ME_URL).json()
    assert me["tenant"]["slug"] == second.slug
    assert me["role"] == "member"


def test_super_admin_without_tenant_logs_in(anon_client):
    user = UserFactory(is_staff=True, is_superuser=True)
    tokens = login(anon_client, user.email).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = anon_client.get(ME_URL).json()
    assert me["isSuperAdmin"] is True
    assert me["tenant"] is None
    assert me["permissions"] == []


def test_user_without_membership_cannot_log_in(anon_client):
    user = UserFactory()
    assert_error(login(anon_client, user.email), 401)


@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer"],
)
def test_forged_or_malformed_tokens_are_401(anon_client, header):
    anon_client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(anon_client.get(ME_URL), 401, "AUTHENTICATION_REQUIRED")


def test_expired_token_is_401(anon_client):
    membership = MembershipFactory()
    token = AccessToken.for_user(membership.user)
    token["tenant_id"] = str(membership.tenant_id)
    token.set_exp(lifetime=-__import__("datetime").timedelta(seconds=1))
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(anon_client.get(ME_URL), 401, "AUTHENTICATION_REQUIRED")


def test_token_signed_with_another_key_is_401(anon_client):
    import jwt

    membership = MembershipFactory()
    forged = jwt.encode(
        {"token_type": "access", "user_id": str(membership.user.id), "exp": 9999999999, "jti": "x"},
        "another-key",
        algorithm="HS256",
    )
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_error(anon_client.get(ME_URL), 401)


def test_me_requires_a_token(anon_client):
    response = anon_client.get(ME_URL)
    assert_error(response, 401, "AUTHENTICATION_REQUIRED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "x@example.test"},
        {"email": "not-an-email", "password": "x"},
        {"email": "a" * 300 + "@x.test", "password": "x"},
    ],
)
def test_login_input_is_validated(anon_client, body):
    assert_error(anon_client.post(TOKEN_URL, body, format="json"), 400, "VALIDATION_ERROR")


def test_login_refuses_unknown_fields(anon_client):
    membership = MembershipFactory()
    error = assert_error(login(anon_client, membership.user.email, admin=True), 400, "VALIDATION_ERROR")
    assert error["details"] == {"admin": ["Unknown field."]}
