"""Integration models, one module per concern (each owned by one part of the product)."""

from integrations.models.connection import Connection, ConnectionStatus
from integrations.models.integration import Environment, HealthStatus, Integration, IntegrationStatus

__all__ = [
    "Connection",
    "ConnectionStatus",
    "Environment",
    "HealthStatus",
    "Integration",
    "IntegrationStatus",
]
