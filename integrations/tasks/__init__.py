"""Celery tasks of the integrations app, one module per concern (autodiscovered through this package)."""

from integrations.tasks import activity, health, refresh  # noqa: F401
