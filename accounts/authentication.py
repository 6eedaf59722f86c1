"""JWT authentication that also resolves the request's tenant from the token's membership, in one query."""

import functools
import uuid

from django.db import connection
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from accounts.models import Membership, User
from tenants.models import Tenant

TENANT_CLAIM = "tenant_id"


@functools.cache
def _membership_query():
    """One SELECT of a membership with its user and tenant, every concrete column of the three (the ORM's
    `select_related` equivalent, without compiling it on every request: it was a tenth of a list request's CPU)."""
    models = (Membership, User, Tenant)
    fields = [list(model._meta.concrete_fields) for model in models]
    columns = ", ".join(
        f"{alias}.{connection.ops.quote_name(f.column)}"
        for alias, group in zip("mut", fields, strict=True)
        for f in group
    )
    m, u, t = (model._meta.db_table for model in models)
    sql = (
        f"SELECT {columns} FROM {m} m JOIN {u} u ON u.id = m.user_id JOIN {t} t ON t.id = m.tenant_id "  # noqa: S608
        "WHERE m.user_id = %s AND m.tenant_id = %s"  # (only model names interpolated; values are parameters)
    )
    return sql, fields


def _instance(model, fields, values):
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def membership_with_user_and_tenant(*, user_id, tenant_id) -> Membership | None:
    """The membership of `user_id` in `tenant_id`, its `user` and `tenant` loaded, in one query; None if absent.
    Raises ValueError for ids that are not UUIDs."""
    user_id, tenant_id = uuid.UUID(str(user_id)), uuid.UUID(str(tenant_id))
    sql, (m_fields, u_fields, t_fields) = _membership_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, tenant_id])
        row = cursor.fetchone()
    if row is None:
        return None
    first, second = len(m_fields), len(m_fields) + len(u_fields)
    membership = _instance(Membership, m_fields, row[:first])
    membership.user = _instance(User, u_fields, row[first:second])
    membership.tenant = _instance(Tenant, t_fields, row[second:])
    return membership


class TenantJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        user_id = validated_token.get("user_id")
        tenant_id = validated_token.get(TENANT_CLAIM)
        membership = None
        try:
            if tenant_id:
                membership = membership_with_user_and_tenant(user_id=user_id, tenant_id=tenant_id)
                if membership is None:
                    raise Membership.DoesNotExist
                user = membership.user
            else:
                user = User.objects.get(pk=user_id)
        except (Membership.DoesNotExist, User.DoesNotExist, ValueError) as exc:
            raise AuthenticationFailed("The token's user or membership no longer exists.") from exc
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.")
        if membership is not None and not membership.tenant.is_active:
            raise AuthenticationFailed("Tenant is inactive.")
        user.active_membership = membership
        return user

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            membership = result[0].active_membership
            request._request.membership = membership
            request._request.tenant = membership.tenant if membership else None
        return result
