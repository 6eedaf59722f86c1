"""DocuSign eSignature: after the code exchange, GET /oauth/userinfo on the same account server tells the account's
base URI and id, which every API path needs. The token endpoint wants HTTP Basic client authentication."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from providers.clients.base import CheckKind, ProviderClient, ProviderError
from providers.http import RequestAuth, provider_request
from providers.registry import register


@register("docusign")
class DocuSignClient(ProviderClient):
    token_auth_method = "client_secret_basic"

    def after_token_exchange(self, token: dict[str, Any]) -> dict[str, Any]:
        token_url = urlsplit(self.oauth_url("tokenUrl") or "https://account.docusign.com/oauth/token")
        access = token.get("access_token", "")
        guard, resolve = self.guard_for(self.oauth.get("tokenUrl"))
        response = provider_request(
            "GET",
            f"{token_url.scheme}://{token_url.netloc}/oauth/userinfo",
            integration=self.integration,
            authenticate=lambda _c: RequestAuth(headers={"Authorization": f"Bearer {access}"}, secrets=(access,)),
            refresh_on_401=False,
            ssrf_guard=guard,
            resolve_host=resolve,
        )
        info = self.json_or_raise(response)
        accounts = info.get("accounts") or []
        account = next((a for a in accounts if a.get("is_default")), accounts[0] if accounts else None)
        if not account or not str(account.get("base_uri", "")).startswith("https://"):
            raise ProviderError("DocuSign's userinfo lists no account with a base URI.", kind=CheckKind.CLIENT_ERROR)
        return {
            # Every API call goes to this host: only one under the catalog's learntUrlDomains is kept.
            "baseUri": self.learnt_url("baseUri", account["base_uri"]),
            "accountId": account.get("account_id"),
            "accountName": account.get("account_name"),
        }

    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        if entities and "envelope" not in entities:
            return []
        return [self._hit(env) for env in self._envelopes(limit=limit, search_text=query)]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, {"envelope": 1, "template": 1})
        if entity == "envelope":
            return self._envelopes(limit=limit)
        return self.get_json("/v2.1/accounts/{accountId}/templates", params={"count": limit}).get(
            "envelopeTemplates", []
        )

    def _envelopes(self, *, limit: int, search_text: str | None = None) -> list[dict[str, Any]]:
        # https://developers.docusign.com/docs/esign-rest-api/reference/envelopes/envelopes/liststatuschanges/
        params: dict[str, Any] = {
            "from_date": (timezone.now() - timedelta(days=365)).date().isoformat(),
            "count": limit,
        }
        if search_text:
            params["search_text"] = search_text
        return self.get_json("/v2.1/accounts/{accountId}/envelopes", params=params).get("envelopes") or []

    @staticmethod
    def _hit(env: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": env.get("envelopeId"),
            "entity": "envelope",
            "title": env.get("emailSubject") or env.get("envelopeId"),
            "description": env.get("status") or "",
            "url": None,
            "updatedAt": env.get("statusChangedDateTime"),
        }
