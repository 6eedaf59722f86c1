"""Stripe: a secret key as bearer; search uses the Search API (https://docs.stripe.com/search)."""

from __future__ import annotations

from typing import Any

from providers.clients.base import ProviderClient
from providers.registry import register

LIST_PATHS = {
    "customer": "/v1/customers",
    "payment_intent": "/v1/payment_intents",
    "invoice": "/v1/invoices",
    "subscription": "/v1/subscriptions",
    "refund": "/v1/refunds",
}


@register("stripe")
class StripeClient(ProviderClient):
    def check_details(self, response) -> dict[str, Any]:
        try:
            balance = response.json()  # GET /v1/balance
        except ValueError:
            return {}
        currencies = sorted({item.get("currency") for item in balance.get("available", []) if item.get("currency")})
        return {"livemode": balance.get("livemode"), "currencies": currencies}

    def search(self, query, *, entities=None, limit=20, filters=None) -> list[dict[str, Any]]:
        if entities and "customer" not in entities:
            return []  # only customers have free-text (substring) search fields
        term = query.replace("\\", "").replace('"', '\\"')
        body = self.get_json(
            "/v1/customers/search",
            params={"query": f'name~"{term}" OR email~"{term}"', "limit": min(limit, 100)},
        )
        return [
            {
                "id": item.get("id"),
                "entity": "customer",
                "title": item.get("name") or item.get("email") or item.get("id"),
                "description": item.get("email") or "",
                "url": f"https://dashboard.stripe.com/customers/{item.get('id')}",
                "updatedAt": None,
            }
            for item in body.get("data", [])
        ]

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        self.check_entity(entity, LIST_PATHS)
        return self.get_json(LIST_PATHS[entity], params={"limit": min(limit, 100)}).get("data", [])
