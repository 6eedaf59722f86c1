"""Celery tasks of the webhooks app (autodiscovered through this package)."""

from webhooks.tasks import inbound, outbound  # noqa: F401
