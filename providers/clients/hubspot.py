"""HubSpot CRM v3. Refresh tokens are revoked with DELETE /oauth/v1/refresh-tokens/{token} (not RFC 7009)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from providers.clients.base import ProviderClient, ProviderError
from providers.http import provider_request
from providers.registry import register

OBJECTS = {"contact": "contacts", "company": "companies", "deal": "deals"}
PROPERTIES = {
    "contact": ["firstname", "lastname", "email", "hs_lastmodifieddate"],
    "company": ["name", "domain", "hs_lastmodifieddate"],
    "deal": ["dealname", "amount", "dealstage", "hs_lastmodifieddate"],
}


@register("hubspot")
class HubSpotClient(ProviderClient):
    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        for entity in [e for e in (entities or OBJECTS) if e in OBJECTS]:
            # https://developers.hubspot.com/docs/api/crm/search: POST /crm/v3/objects/{object}/search
            response = self.request(
                "POST",
                f"/crm/v3/objects/{OBJECTS[entity]}/search",
                json={"query": query, "limit": min(limit, 100), "properties": PROPERTIES[entity]},
                idempotent=True,
            )
            for item in self.json_or_raise(response).get("results", []):
                props = item.get("properties") or {}
                hits.append(
                    {
                        "id": item.get("id"),
                        "entity": entity,
                        "title": _title(entity, props),
                        "description": props.get("email") or props.get("domain") or props.get("dealstage") or "",
                        "url": None,
                        "updatedAt": item.get("updatedAt"),
                    }
                )
        return hits[:limit]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, OBJECTS)
        params = {"limit": min(limit, 100), "properties": ",".join(fields or PROPERTIES[entity])}
        return self.get_json(f"/crm/v3/objects/{OBJECTS[entity]}", params=params).get("results", [])

    def revoke(self, *, client_id: str, client_secret: str) -> bool:
        token = self.credentials.get("refresh_token")
        if not token:
            return False
        response = provider_request(
            "DELETE",
            f"https://api.hubapi.com/oauth/v1/refresh-tokens/{quote(token, safe='')}",
            integration=self.integration,
            refresh_on_401=False,
            secrets=(token,),
        )
        if response.status_code >= 400 and response.status_code != 404:
            raise ProviderError(
                f"HubSpot revocation answered {response.status_code}.",
                kind=self.kind_for_status(response.status_code),
                status_code=response.status_code,
            )
        return True


def _title(entity: str, props: dict[str, Any]) -> str:
    if entity == "contact":
        name = " ".join(filter(None, (props.get("firstname"), props.get("lastname"))))
        return name or props.get("email") or ""
    return props.get("name") or props.get("dealname") or ""
