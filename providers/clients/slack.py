"""Slack Web API: errors come back as HTTP 200 with {"ok": false, "error": "..."}, so every answer's body is read."""

from __future__ import annotations

from typing import Any

from providers.clients.base import CheckKind, CheckResult, ProviderClient, ProviderError
from providers.registry import register

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission"}
)


@register("slack")
class SlackClient(ProviderClient):
    def interpret_check(self, response, *, expected, elapsed_ms) -> CheckResult:
        result = super().interpret_check(response, expected=expected, elapsed_ms=elapsed_ms)
        if not result.ok:
            return result
        body = _json(response)
        if body.get("ok"):
            return result
        error = str(body.get("error") or "unknown_error")
        kind = (
            CheckKind.AUTH_FAILED
            if error in AUTH_ERRORS
            else CheckKind.RATE_LIMITED
            if error == "ratelimited"
            else CheckKind.CLIENT_ERROR
        )
        return CheckResult(
            False,
            kind,
            f"Slack refused the call: {error}",
            status_code=response.status_code,
            response_time_ms=elapsed_ms,
        )

    def check_details(self, response) -> dict[str, Any]:
        body = _json(response)  # auth.test: {ok, url, team, user, team_id, user_id, bot_id}
        return {"team": body.get("team"), "teamId": body.get("team_id"), "user": body.get("user")}

    def json_or_raise(self, response) -> Any:
        body = super().json_or_raise(response)
        if isinstance(body, dict) and body.get("ok") is False:
            error = str(body.get("error") or "unknown_error")
            kind = CheckKind.AUTH_FAILED if error in AUTH_ERRORS else CheckKind.CLIENT_ERROR
            raise ProviderError(f"Slack refused the call: {error}", kind=kind, status_code=response.status_code)
        return body

    def after_token_exchange(self, token: dict[str, Any]) -> dict[str, Any]:
        team = token.get("team") or {}
        return {
            "teamId": team.get("id"),
            "teamName": team.get("name"),
            "botUserId": token.get("bot_user_id"),
            "appId": token.get("app_id"),
        }

    def fetch_entities(self, entity, *, limit=50, filters=None, fields=None) -> list[dict[str, Any]]:
        calls = {"channel": ("/conversations.list", "channels"), "user": ("/users.list", "members")}
        self.check_entity(entity, calls)
        path, key = calls[entity]
        return self.get_json(path, params={"limit": min(limit, 1000)}).get(key, [])[:limit]

    def revoke(self, *, client_id: str, client_secret: str) -> bool:
        """auth.revoke takes the token itself as the bearer (https://api.slack.com/methods/auth.revoke)."""
        response = self.post_token_as_bearer()
        if response is None:
            return False
        body = self.json_or_raise(response)
        return bool(body.get("revoked", True))


def _json(response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
