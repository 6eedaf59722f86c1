"""Google APIs (Calendar, Gmail, Drive): search and listing calls; OAuth and health come from the catalog."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from providers.clients.base import ProviderClient
from providers.registry import register


@register("google_calendar", "gmail", "google_drive")
class GoogleClient(ProviderClient):
    def _calendar_id(self) -> str:
        return quote(self.config.get("calendarId") or "primary", safe="")

    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        if self.key == "google_calendar":
            # https://developers.google.com/calendar/api/v3/reference/events/list (q = free text)
            params = {"q": query, "maxResults": limit, "singleEvents": "true", **_pick(filters, "timeMin", "timeMax")}
            body = self.get_json(f"/calendar/v3/calendars/{self._calendar_id()}/events", params=params)
            return [
                {
                    "id": item.get("id"),
                    "entity": "event",
                    "title": item.get("summary") or "(no title)",
                    "description": item.get("description") or "",
                    "url": item.get("htmlLink"),
                    "updatedAt": item.get("updated"),
                }
                for item in body.get("items", [])
            ]
        if self.key == "gmail":
            # https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list (q = Gmail search syntax)
            body = self.get_json("/gmail/v1/users/me/messages", params={"q": query, "maxResults": limit})
            return [
                {
                    "id": item.get("id"),
                    "entity": "message",
                    "title": item.get("snippet") or item.get("id"),
                    "description": "",
                    "url": f"https://mail.google.com/mail/#all/{item.get('threadId')}",
                    "updatedAt": None,
                }
                for item in body.get("messages", [])
            ]
        # Drive: https://developers.google.com/drive/api/reference/rest/v3/files/list
        escaped = query.replace("\\", "\\\\").replace("'", "\\'")
        params = {
            "q": f"fullText contains '{escaped}' and trashed = false",
            "pageSize": limit,
            "fields": "files(id,name,mimeType,webViewLink,modifiedTime)",
        }
        body = self.get_json("/drive/v3/files", params=params)
        return [
            {
                "id": item.get("id"),
                "entity": "folder" if item.get("mimeType") == "application/vnd.google-apps.folder" else "file",
                "title": item.get("name"),
                "description": item.get("mimeType", ""),
                "url": item.get("webViewLink"),
                "updatedAt": item.get("modifiedTime"),
            }
            for item in body.get("files", [])
        ]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        calls = {
            "google_calendar": {
                "event": (f"/calendar/v3/calendars/{self._calendar_id()}/events", "maxResults", "items"),
                "calendar": ("/calendar/v3/users/me/calendarList", "maxResults", "items"),
            },
            "gmail": {
                "message": ("/gmail/v1/users/me/messages", "maxResults", "messages"),
                "thread": ("/gmail/v1/users/me/threads", "maxResults", "threads"),
                "label": ("/gmail/v1/users/me/labels", None, "labels"),
            },
            "google_drive": {
                "file": ("/drive/v3/files", "pageSize", "files"),
                "folder": ("/drive/v3/files", "pageSize", "files"),
            },
        }[self.key]
        self.check_entity(entity, calls)
        path, limit_param, items_key = calls[entity]
        params = {limit_param: limit} if limit_param else {}
        if self.key == "google_drive":
            kind = "=" if entity == "folder" else "!="
            params["q"] = f"mimeType {kind} 'application/vnd.google-apps.folder' and trashed = false"
        return self.get_json(path, params=params).get(items_key, [])[:limit]


def _pick(filters: dict | None, *names: str) -> dict:
    return {name: filters[name] for name in names if filters and filters.get(name)}
