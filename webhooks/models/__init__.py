"""Webhook models: outbound (subscriptions, events, deliveries, attempts) and inbound (endpoints, received events)."""

from webhooks.models.event_types import *  # noqa: F403
from webhooks.models.inbound import *  # noqa: F403
from webhooks.models.outbound import *  # noqa: F403
