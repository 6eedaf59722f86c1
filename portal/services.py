"""Portal rules: minting and redeeming single-use sign-in links, and each tenant's theme.

Everything else the portal does goes through the services of `integrations` and `webhooks`, like the API.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from config.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.models import PortalLink, TenantTheme

logger = logging.getLogger(__name__)

LINK_TTL_MIN_SECONDS = 60
LINK_TTL_MAX_SECONDS = 3600
LINK_TTL_DEFAULT_SECONDS = 600
DEFAULT_PRIMARY_COLOR = "#2563eb"


class LinkGone(DomainError):
    """The link was used already or has expired: nobody is signed in (410)."""

    status_code = 410
    code = "PORTAL_LINK_GONE"
    default_message = "This sign-in link was already used or has expired."


@dataclass(frozen=True)
class MintedLink:
    url: str
    expires_at: datetime


@transaction.atomic
def portal_link_create(*, caller: Membership, user_id=None, ttl_seconds: int | None = None) -> MintedLink:
    """A single-use link that signs `user_id` (default: the caller) into the portal of the caller's tenant.

    Only tenant admins mint links; a user outside the caller's tenant is a 404 like any other tenant's row.
    The token is returned once, in the URL; only its SHA-256 is stored.
    """
    if caller.role != Role.ADMIN:
        raise PermissionDenied("Only tenant admins can open portal sessions.")
    ttl = LINK_TTL_DEFAULT_SECONDS if ttl_seconds is None else ttl_seconds
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not LINK_TTL_MIN_SECONDS <= ttl <= LINK_TTL_MAX_SECONDS:
        message = f"Must be an integer between {LINK_TTL_MIN_SECONDS} and {LINK_TTL_MAX_SECONDS}."
        raise ValidationFailed(f"ttlSeconds: {message}", details={"ttlSeconds": [message]})
    if user_id is None:
        target = caller
    else:
        target = (
            Membership.objects.select_related("user")
            .filter(tenant_id=caller.tenant_id, user_id=user_id, user__is_active=True)
            .first()
        )
        if target is None:
            raise NotFound("user", "No active user with this id in your tenant.")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    expires_at = now + timedelta(seconds=ttl)
    # Links are worth nothing once expired: whoever mints one sweeps the day-old ones (indexed on expires_at).
    PortalLink.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    PortalLink.objects.create(
        token_hash=PortalLink.hash_token(token),
        tenant_id=caller.tenant_id,
        user_id=target.user_id,
        created_by_id=caller.user_id,
        expires_at=expires_at,
    )
    logger.info("portal.link.created", extra={"tenant_id": str(caller.tenant_id), "user_id": str(target.user_id)})
    url = settings.PUBLIC_BASE_URL + reverse("portal:enter", kwargs={"token": token})
    return MintedLink(url=url, expires_at=expires_at)


@transaction.atomic
def portal_link_redeem(*, token: str) -> Membership:
    """Consume a link once (a conditional update, so two concurrent uses cannot both win) and return the membership
    it signs in. Used, expired, unknown links, and links of a since-removed membership raise LinkGone."""
    token = (token or "").strip()
    if not token or len(token) > 200:
        raise LinkGone()
    now = timezone.now()
    link = PortalLink.objects.filter(token_hash=PortalLink.hash_token(token)).first()
    if link is None:
        raise LinkGone()
    consumed = PortalLink.objects.filter(pk=link.pk, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not consumed:
        logger.info("portal.link.refused", extra={"link_id": str(link.pk), "used": link.used_at is not None})
        raise LinkGone()
    membership = (
        Membership.objects.select_related("user", "tenant")
        .filter(tenant_id=link.tenant_id, user_id=link.user_id)
        .first()
    )
    if membership is None or not membership.user.is_active or not membership.tenant.is_active:
        raise LinkGone()
    logger.info("portal.link.redeemed", extra={"link_id": str(link.pk), "user_id": str(link.user_id)})
    return membership


def theme_for(tenant) -> dict[str, str]:
    """The tenant's portal theme, with defaults for what a super admin left blank."""
    theme = TenantTheme.objects.filter(tenant=tenant).first()
    return {
        "name": (theme.display_name if theme and theme.display_name else tenant.name),
        "logo_url": theme.logo_url if theme else "",
        "primary_color": (theme.primary_color if theme and theme.primary_color else DEFAULT_PRIMARY_COLOR),
    }
