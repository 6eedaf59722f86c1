"""Reads of the provider catalog: the super-admin list and the tenant catalog (audience tenant, active or beta)."""

from collections.abc import Mapping

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from config.errors import NotFound, ValidationFailed
from providers.models import Audience, Category, Provider, ProviderStatus

CATALOG_STATUSES = (ProviderStatus.ACTIVE, ProviderStatus.BETA)
_MAX_SEARCH = 200


def _choice(filters: Mapping, name: str, choices: list[str]) -> str | None:
    value = (filters.get(name) or "").strip().lower()
    if not value:
        return None
    if value not in choices:
        raise ValidationFailed(
            f"{name}: must be one of {', '.join(choices)}.", details={name: [f"Must be one of: {', '.join(choices)}."]}
        )
    return value


def provider_search(queryset: QuerySet, search: str) -> QuerySet:
    """Case-insensitive match on key, name, display name, description and capabilities (the JSON list as text)."""
    search = (search or "").strip()[:_MAX_SEARCH]
    if not search:
        return queryset
    return queryset.annotate(_capabilities_text=Cast("capabilities", TextField())).filter(
        Q(key__icontains=search)
        | Q(name__icontains=search)
        | Q(display_name__icontains=search)
        | Q(description__icontains=search)
        | Q(_capabilities_text__icontains=search)
    )


def provider_list(*, filters: Mapping) -> QuerySet[Provider]:
    """Every provider (super admin): filters `category`, `status`, `audience`, `search`; ordered by key."""
    queryset = Provider.objects.all()
    for name, choices in (
        ("category", Category.values),
        ("status", ProviderStatus.values),
        ("audience", Audience.values),
    ):
        value = _choice(filters, name, choices)
        if value:
            queryset = queryset.filter(**{name: value})
    return provider_search(queryset, filters.get("search", "")).order_by("key")


def provider_get(*, key: str) -> Provider:
    provider = Provider.objects.filter(key=key).first()
    if provider is None:
        raise NotFound("provider", f"Provider {key!r} not found.")
    return provider


def catalog_queryset() -> QuerySet[Provider]:
    return Provider.objects.filter(audience=Audience.TENANT, status__in=CATALOG_STATUSES)


def catalog_list(*, filters: Mapping) -> QuerySet[Provider]:
    """What a tenant may enable: audience tenant, status active or beta; filters `category`, `search`."""
    queryset = catalog_queryset()
    category = _choice(filters, "category", Category.values)
    if category:
        queryset = queryset.filter(category=category)
    return provider_search(queryset, filters.get("search", "")).order_by("display_name", "key")


def catalog_get(*, key: str) -> Provider:
    provider = catalog_queryset().filter(key=key).first()
    if provider is None:
        raise NotFound("provider", f"Provider {key!r} not found.")
    return provider
