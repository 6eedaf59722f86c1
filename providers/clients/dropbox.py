"""Dropbox API v2: RPC-style POSTs; revocation is a bearer-authenticated POST with no body (not RFC 7009)."""

from __future__ import annotations

from typing import Any

from providers.clients.base import ProviderClient
from providers.registry import register


@register("dropbox")
class DropboxClient(ProviderClient):
    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        options: dict[str, Any] = {"max_results": min(limit, 1000)}
        if self.config.get("rootPath"):
            options["path"] = self.config["rootPath"]
        response = self.request(
            "POST", "/2/files/search_v2", json={"query": query, "options": options}, idempotent=True
        )
        hits = []
        for match in self.json_or_raise(response).get("matches", []):
            meta = (match.get("metadata") or {}).get("metadata") or {}
            hits.append(
                {
                    "id": meta.get("id"),
                    "entity": "folder" if meta.get(".tag") == "folder" else "file",
                    "title": meta.get("name"),
                    "description": meta.get("path_display") or "",
                    "url": None,
                    "updatedAt": meta.get("server_modified"),
                }
            )
        return hits

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, {"file": 1, "folder": 1})
        response = self.request(
            "POST",
            "/2/files/list_folder",
            json={"path": self.config.get("rootPath") or "", "limit": min(limit, 2000)},
            idempotent=True,
        )
        tag = "folder" if entity == "folder" else "file"
        return [e for e in self.json_or_raise(response).get("entries", []) if e.get(".tag") == tag][:limit]

    def revoke(self, *, client_id: str, client_secret: str) -> bool:
        response = self.post_token_as_bearer()
        if response is None:
            return False
        if response.status_code >= 400:
            self.json_or_raise(response)  # raises ProviderError with the provider's message
        return True
