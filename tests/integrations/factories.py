"""Factories for providers and integrations: real catalog entries where a test needs a real provider."""

import json

import factory

from integrations.models import Integration
from providers.catalog_loader import CATALOG_DIR
from providers.models import Provider
from providers.services import entry_values, provider_sync_entry
from tests.factories import TenantFactory


def catalog_entry(key: str) -> dict:
    return json.loads((CATALOG_DIR / f"{key}.json").read_text())


def catalog_provider(key: str, **overrides) -> Provider:
    """The provider of the shipped catalog file `key` (created through the sync service), with `overrides` set."""
    provider_sync_entry(catalog_entry(key))
    provider = Provider.objects.get(key=key)
    if overrides:
        for field, value in overrides.items():
            setattr(provider, field, value)
        provider.save()
    return provider


class ProviderFactory(factory.django.DjangoModelFactory):
    """A made-up API-key provider (valid catalog entry shape); pass fields to change it."""

    class Meta:
        model = Provider
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"acme_{n}")
    name = factory.LazyAttribute(lambda o: o.key.replace("_", " ").title())
    display_name = factory.LazyAttribute(lambda o: o.name)
    description = "An example service."
    category = "crm"
    status = "active"
    audience = "tenant"
    capabilities = factory.LazyFunction(lambda: ["read_contacts"])
    auth_type = "api_key"
    api_key_placement = factory.LazyFunction(lambda: {"in": "header", "name": "X-Api-Key", "format": "{apiKey}"})
    credential_schema = factory.LazyFunction(
        lambda: {"type": "object", "properties": {"apiKey": {"type": "string"}}, "required": ["apiKey"]}
    )
    search_capabilities = factory.LazyFunction(lambda: {"fullText": False, "fieldSpecific": False, "filtered": False})
    icon = "acme"
    color = "#123456"


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration

    tenant = factory.SubFactory(TenantFactory)
    provider = factory.LazyFunction(lambda: catalog_provider("stripe"))
    name = factory.Sequence(lambda n: f"Integration {n}")
    auth_type = factory.LazyAttribute(lambda o: o.provider.auth_type)


__all__ = ["IntegrationFactory", "ProviderFactory", "catalog_entry", "catalog_provider", "entry_values"]
