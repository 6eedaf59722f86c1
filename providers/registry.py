"""Provider clients by provider key.

    @register("stripe")
    class StripeClient(ProviderClient): ...

    client = get_client(integration)              # its default connection (see below)
    client = get_client(integration, connection=candidate)   # e.g. credentials not stored yet

A provider key without a registered class gets `GenericClient`, driven by the catalog entry alone.
"""

from __future__ import annotations

from importlib import import_module

from providers.clients.base import GenericClient, ProviderClient

_REGISTRY: dict[str, type[ProviderClient]] = {}
_loaded = False

CLIENT_MODULES = (
    "bamboohr",
    "docusign",
    "dropbox",
    "google",
    "hubspot",
    "microsoft",
    "salesforce",
    "slack",
    "stripe",
    "twilio",
)


def register(*keys: str):
    """Class decorator: serve the provider keys `keys` with the decorated ProviderClient subclass."""

    def decorate(cls: type[ProviderClient]) -> type[ProviderClient]:
        for key in keys:
            existing = _REGISTRY.get(key)
            if existing is not None and existing is not cls:
                raise ValueError(f"provider key {key!r} is already served by {existing.__name__}")
            _REGISTRY[key] = cls
        cls.provider_keys = tuple(keys)
        return cls

    return decorate


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in CLIENT_MODULES:
            import_module(f"providers.clients.{name}")
        _loaded = True


def client_class(provider_key: str) -> type[ProviderClient]:
    _load()
    return _REGISTRY.get(provider_key, GenericClient)


def registered_keys() -> list[str]:
    _load()
    return sorted(_REGISTRY)


def get_client(integration, *, connection=None) -> ProviderClient:
    """The client for `integration`'s provider, authenticated with `connection`.

    Without `connection`: the tenant-level connection when the integration is not user-scoped; None for a
    user-scoped one (a user's grant is used only for that user: pass their connection).
    """
    if connection is None:
        from integrations.connections import default_connection

        connection = default_connection(integration)
    return client_class(integration.provider.key)(integration, connection=connection)


def get_system_client(provider) -> ProviderClient:
    """A client for `provider` with no integration or connection (the super admin's provider test)."""
    return client_class(provider.key)(None, provider=provider)
