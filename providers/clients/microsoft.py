"""Microsoft Graph (Outlook Calendar, Outlook Mail, Teams). The identity platform has no revocation endpoint."""

from __future__ import annotations

from typing import Any

from providers.clients.base import ProviderClient
from providers.registry import register

ENTITY_PATHS = {
    "event": "/me/events",
    "calendar": "/me/calendars",
    "message": "/me/messages",
    "mail_folder": "/me/mailFolders",
    "team": "/me/joinedTeams",
    "chat": "/me/chats",
}
SEARCHABLE = {"outlook_calendar": "event", "outlook_mail": "message"}


@register("outlook_calendar", "outlook_mail", "microsoft_teams")
class MicrosoftGraphClient(ProviderClient):
    def check_details(self, response) -> dict[str, Any]:
        try:
            me = response.json()
        except ValueError:
            return {}
        return {"account": {"name": me.get("displayName"), "email": me.get("mail") or me.get("userPrincipalName")}}

    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        entity = SEARCHABLE.get(self.key)
        if entity is None:
            return super().search(query, entities=entities, limit=limit, filters=filters)
        # https://learn.microsoft.com/graph/search-query-parameter: $search needs ConsistencyLevel: eventual
        phrase = query.replace('"', "")
        body = self.get_json(
            ENTITY_PATHS[entity],
            params={"$search": f'"{phrase}"', "$top": limit},
            headers={"ConsistencyLevel": "eventual"},
        )
        return [
            {
                "id": item.get("id"),
                "entity": entity,
                "title": item.get("subject") or "(no subject)",
                "description": item.get("bodyPreview") or "",
                "url": item.get("webLink"),
                "updatedAt": item.get("lastModifiedDateTime"),
            }
            for item in body.get("value", [])
        ]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        available = {name: ENTITY_PATHS[name] for name in ENTITY_PATHS if name in self._entities()}
        self.check_entity(entity, available)
        params: dict[str, Any] = {"$top": limit}
        if fields:
            params["$select"] = ",".join(fields)
        return self.get_json(available[entity], params=params).get("value", [])[:limit]

    def _entities(self) -> set[str]:
        return {item["name"] for item in self.provider.available_entities or []}
