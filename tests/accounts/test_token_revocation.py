"""Refresh tokens can be revoked: rotation on refresh, logout, and a password change that ends every session."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from tests.factories import PASSWORD, MembershipFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
PASSWORD_URL = "/api/v1/auth/password"
ME_URL = "/api/v1/auth/me"


def pair(client, email, password=PASSWORD):
    response = client.post(TOKEN_URL, {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client, token):
    return client.post(REFRESH_URL, {"refresh": token}, format="json")


def test_refresh_rotates_and_the_spent_refresh_token_is_refused():
    membership = MembershipFactory()
    client = APIClient()
    first = pair(client, membership.user.email)

    response = refresh(client, first["refresh"])

    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert AccessToken(second["access"])["tenant_id"] == str(membership.tenant_id)
    assert_error(refresh(client, first["refresh"]), 401, "AUTHENTICATION_REQUIRED")  # a stolen copy is dead
    assert refresh(client, second["refresh"]).status_code == 200


def test_logout_revokes_the_refresh_token():
    membership = MembershipFactory()
    client = APIClient()
    tokens = pair(client, membership.user.email)

    response = client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert_error(refresh(client, tokens["refresh"]), 401, "AUTHENTICATION_REQUIRED")
    assert_error(client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json"), 401)


@pytest.mark.parametrize("body", [{}, {"refresh": "not-a-token"}, {"refresh": 5}, {"refresh": "x", "extra": 1}])
def test_logout_with_a_bad_body_is_an_error_not_a_500(body):
    response = APIClient().post(LOGOUT_URL, body, format="json")
    assert response.status_code in (400, 401)
    assert_error(response, response.status_code)


def test_password_change_revokes_every_refresh_token_of_the_user():
    membership = MembershipFactory(role=Role.MEMBER)
    other_user = MembershipFactory(tenant=membership.tenant)
    client = APIClient()
    laptop = pair(client, membership.user.email)
    phone = pair(client, membership.user.email)
    bystander = pair(client, other_user.user.email)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {laptop['access']}")

    response = client.post(
        PASSWORD_URL, {"currentPassword": PASSWORD, "newPassword": "a-much-better-passphrase"}, format="json"
    )

    assert response.status_code == 200
    fresh = response.json()
    assert_error(refresh(APIClient(), laptop["refresh"]), 401)
    assert_error(refresh(APIClient(), phone["refresh"]), 401)
    assert refresh(APIClient(), fresh["refresh"]).status_code == 200
    assert refresh(APIClient(), bystander["refresh"]).status_code == 200
    anon = APIClient()
    assert (
        anon.post(TOKEN_URL, {"email": membership.user.email, "password": PASSWORD}, format="json").status_code == 401
    )
    pair(anon, membership.user.email, "a-much-better-passphrase")


def test_password_change_needs_the_current_password_and_a_valid_new_one():
    membership = MembershipFactory()
    client = APIClient()
    tokens = pair(client, membership.user.email)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    wrong = client.post(PASSWORD_URL, {"currentPassword": "nope-nope", "newPassword": "fine-new-pass-1"}, format="json")
    weak = client.post(PASSWORD_URL, {"currentPassword": PASSWORD, "newPassword": "short"}, format="json")
    missing = client.post(PASSWORD_URL, {"newPassword": "fine-new-pass-1"}, format="json")

    assert "currentPassword" in assert_error(wrong, 400, "VALIDATION_ERROR")["details"]
    assert "newPassword" in assert_error(weak, 400, "VALIDATION_ERROR")["details"]
    assert "currentPassword" in assert_error(missing, 400, "VALIDATION_ERROR")["details"]
    assert refresh(APIClient(), tokens["refresh"]).status_code == 200  # nothing revoked
    assert_error(APIClient().post(PASSWORD_URL, {}, format="json"), 401, "AUTHENTICATION_REQUIRED")


def test_guessing_the_current_password_counts_toward_the_login_limit(settings):
    settings.LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    membership = MembershipFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair(client, membership.user.email)['access']}")
    for i in range(3):
        client.post(PASSWORD_URL, {"currentPassword": f"guess-{i}", "newPassword": "fine-new-pass-1"}, format="json")

    response = client.post(PASSWORD_URL, {"currentPassword": PASSWORD, "newPassword": "fine-new-pass-1"}, format="json")

    assert_error(response, 429, "RATE_LIMIT_EXCEEDED")
    assert "Retry-After" in response


def test_expired_refresh_token_records_are_flushed():
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.tasks import flush_expired_tokens

    membership = MembershipFactory()
    client = APIClient()
    old = pair(client, membership.user.email)
    current = pair(client, membership.user.email)
    client.post(LOGOUT_URL, {"refresh": old["refresh"]}, format="json")
    old_jti = RefreshToken(old["refresh"], verify=False)["jti"]
    OutstandingToken.objects.filter(jti=old_jti).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert flush_expired_tokens() == 1

    assert not OutstandingToken.objects.filter(jti=old_jti).exists()
    assert refresh(client, current["refresh"]).status_code == 200
