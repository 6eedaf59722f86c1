"""Event types as data: the catalog of events a subscription may ask for, each with the JSON Schema of its ``data``.

Platform-wide (not tenant-owned): the built-in types are written from ``webhooks.events`` after every migrate (see
``webhooks.event_types.event_types_sync``); super admins add custom ones (API and Django admin).
"""

from django.db import models

__all__ = ["EventType"]


class EventType(models.Model):
    """One event type: ``name`` (``group.action``), what it means, the JSON Schema of its data and an example."""

    name = models.CharField(max_length=100, primary_key=True)
    description = models.TextField()
    group = models.CharField(max_length=50, db_index=True)
    schema = models.JSONField(default=dict, help_text="JSON Schema (draft 2020-12) of the event's data object.")
    example = models.JSONField(default=dict, blank=True, help_text="An example data object, valid against the schema.")
    version = models.PositiveIntegerField(default=1)
    deprecated = models.BooleanField(default=False)
    builtin = models.BooleanField(default=False, help_text="Defined by the platform (see webhooks/events.py).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "name"]

    def __str__(self) -> str:
        return self.name
