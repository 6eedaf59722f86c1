"""BambooHR: the API key is the HTTP Basic username (any password); ask for JSON or it answers XML."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from providers.clients.base import ProviderClient
from providers.http import RequestAuth
from providers.registry import register


@register("bamboohr")
class BambooHRClient(ProviderClient):
    default_headers = {"Accept": "application/json"}

    def authenticate(self, connection) -> RequestAuth:
        api_key = (getattr(connection, "credentials", None) or {}).get("apiKey")
        if not api_key:
            return RequestAuth()
        return RequestAuth(auth=(api_key, "x"), secrets=(api_key, self._basic_header(api_key, "x")))

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, {"employee": 1, "time_off_request": 1})
        if entity == "employee":
            return self.get_json("/{companyDomain}/v1/employees/directory").get("employees", [])[:limit]
        today = timezone.now().date()
        params = {
            "start": (filters or {}).get("start") or today.isoformat(),
            "end": (filters or {}).get("end") or (today + timedelta(days=90)).isoformat(),
        }
        return list(self.get_json("/{companyDomain}/v1/time_off/requests", params=params))[:limit]
