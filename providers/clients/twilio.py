"""Twilio REST API 2010-04-01: HTTP Basic with the account SID and auth token; lists are under the account."""

from __future__ import annotations

from typing import Any

from providers.clients.base import ProviderClient
from providers.registry import register

LISTS = {
    "message": ("/Accounts/{accountSid}/Messages.json", "messages"),
    "phone_number": ("/Accounts/{accountSid}/IncomingPhoneNumbers.json", "incoming_phone_numbers"),
}


@register("twilio")
class TwilioClient(ProviderClient):
    def check_details(self, response) -> dict[str, Any]:
        try:
            account = response.json()  # GET /Accounts/{sid}.json
        except ValueError:
            return {}
        return {"account": {"name": account.get("friendly_name"), "status": account.get("status")}}

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, LISTS)
        path, key = LISTS[entity]
        return self.get_json(path, params={"PageSize": min(limit, 1000)}).get(key, [])[:limit]
