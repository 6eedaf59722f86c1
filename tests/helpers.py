"""Assertions every issue reuses: tenant isolation and the error shape."""

import json


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "details", "requestId"} <= set(error), error
    assert error["requestId"] == response["X-Request-Id"]
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_tenant_isolation(client, urls, foreign_ids) -> None:
    """`client` belongs to another tenant: every URL either 404s or answers without any of `foreign_ids`.

    `urls` holds paths (GET) or (method, path[, body]) tuples; detail URLs of foreign rows must be 404,
    list URLs must not leak a foreign id anywhere in their body.
    """
    foreign_ids = [str(i) for i in foreign_ids]
    assert foreign_ids, "give the ids of the first tenant's rows"
    for entry in urls:
        method, path, body = (("get", entry, None) if isinstance(entry, str) else (*entry, None))[:3]
        response = (
            getattr(client, method.lower())(path, body, format="json")
            if body is not None
            else getattr(client, method.lower())(path)
        )
        text = response.content.decode(errors="replace")
        if response.status_code == 404:
            assert json.loads(text)["error"]["code"].endswith("NOT_FOUND"), (path, text)
            continue
        assert response.status_code < 400, (method, path, response.status_code, text[:300])
        leaked = [i for i in foreign_ids if i in text]
        assert not leaked, f"{method} {path} leaks another tenant's ids {leaked}"
