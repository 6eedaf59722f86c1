"""Salesforce REST API: the instance URL comes from the token response (and may change on refresh); the token
response has no expires_in, so tokens are refreshed on a 401 (INVALID_SESSION_ID) rather than ahead of time."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from providers.clients.base import CheckKind, ProviderClient, ProviderError
from providers.registry import register

SOBJECTS = {"account": "Account", "contact": "Contact", "lead": "Lead", "opportunity": "Opportunity", "task": "Task"}
TITLE_FIELD = {"task": "Subject"}
_SOSL_RESERVED = re.compile(r"([?&|!{}\[\]()^~*:\\\"'+-])")


@register("salesforce")
class SalesforceClient(ProviderClient):
    def after_token_exchange(self, token: dict[str, Any]) -> dict[str, Any]:
        return self._instance(token)

    def after_token_refresh(self, token: dict[str, Any]) -> dict[str, Any]:
        return self._instance(token) if token.get("instance_url") else {}

    def _instance(self, token: dict[str, Any]) -> dict[str, Any]:
        url = str(token.get("instance_url") or "")
        if urlsplit(url).scheme != "https" or not urlsplit(url).hostname:
            raise ProviderError("Salesforce's token response has no valid instance_url.", kind=CheckKind.SERVER_ERROR)
        # Only an instance under the catalog's learntUrlDomains (salesforce.com) is kept: every API call goes there.
        return {"instanceUrl": self.learnt_url("instanceUrl", url)}

    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        wanted = [e for e in (entities or self.provider.searchable_entities) if e in SOBJECTS and e != "task"]
        if not wanted:
            return []
        # https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search.htm
        term = _SOSL_RESERVED.sub(r"\\\1", query)
        returning = ", ".join(f"{SOBJECTS[e]}(Id, Name, LastModifiedDate LIMIT {limit})" for e in wanted)
        body = self.get_json("/search", params={"q": f"FIND {{{term}}} IN ALL FIELDS RETURNING {returning}"})
        by_type = {v: k for k, v in SOBJECTS.items()}
        instance = (self.connection.metadata or {}).get("instanceUrl", "") if self.connection else ""
        return [
            {
                "id": rec.get("Id"),
                "entity": by_type.get((rec.get("attributes") or {}).get("type"), "record"),
                "title": rec.get("Name"),
                "description": "",
                "url": f"{instance}/{rec.get('Id')}" if instance else None,
                "updatedAt": rec.get("LastModifiedDate"),
            }
            for rec in body.get("searchRecords", [])
        ][:limit]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, SOBJECTS)
        names = [f for f in (fields or ["Id", TITLE_FIELD.get(entity, "Name"), "LastModifiedDate"]) if f.isidentifier()]
        # Field names are identifiers and the object name comes from SOBJECTS: nothing of the caller's is quoted in.
        soql = f"SELECT {', '.join(names)} FROM {SOBJECTS[entity]} ORDER BY LastModifiedDate DESC LIMIT {int(limit)}"  # noqa: S608
        return self.get_json("/query", params={"q": soql}).get("records", [])
