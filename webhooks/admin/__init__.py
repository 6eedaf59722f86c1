from webhooks.admin import event_types, inbound, outbound  # noqa: F401
