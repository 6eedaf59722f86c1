from integrations.admin import connections, health, integrations  # noqa: F401
