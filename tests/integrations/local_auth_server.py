"""A small but honest OAuth 2.0 authorization server on 127.0.0.1, run in a thread, for discovery and refresh tests.

What it implements (and enforces):
- metadata at `/.well-known/oauth-authorization-server` (RFC 8414) and/or `/.well-known/openid-configuration`, or a
  document the test sets (malformed, another issuer, ...);
- `GET /authorize`: checks client_id, redirect_uri, response_type=code and a PKCE S256 challenge (required), then
  approves at once (no login page) and redirects with `code`, `state` and `iss` (RFC 9207);
- `POST /token`: client authentication (client_secret_post or client_secret_basic); authorization_code grants are
  single-use, bound to the redirect_uri and checked against the PKCE verifier; refresh tokens rotate (a used one is
  `invalid_grant`), and the test can revoke them all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class LocalAuthServer:
    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str, metadata_paths=("rfc8414",)):
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.metadata_paths = set(metadata_paths)
        self.document_override = None  # a dict/str to serve instead of the real document
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, str] = {}  # live refresh token -> access token it last minted
        self.used_refresh_tokens: set[str] = set()
        self.hits: list[str] = []
        self.token_requests: list[dict] = []
        self.access_expires_in = 3600
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> LocalAuthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # --- what the metadata says -------------------------------------------------------------------------------------
    def document(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "revocation_endpoint": f"{self.issuer}/revoke",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "authorization_response_iss_parameter_supported": True,
        }

    def revoke_all_refresh_tokens(self) -> None:
        with self.lock:
            self.used_refresh_tokens |= set(self.refresh_tokens)
            self.refresh_tokens.clear()

    # --- HTTP -------------------------------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body=None, headers=None):
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None and not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                server.hits.append(parts.path)
                wanted = {
                    "/.well-known/oauth-authorization-server": "rfc8414",
                    "/.well-known/openid-configuration": "oidc",
                }.get(parts.path)
                if wanted:
                    if wanted not in server.metadata_paths:
                        return self._send(404, {"error": "not_found"})
                    override = server.document_override
                    if isinstance(override, str):
                        return self._send(200, override.encode(), {"Content-Type": "application/json"})
                    return self._send(200, override if override is not None else server.document())
                if parts.path == "/authorize":
                    return self._authorize({k: v[0] for k, v in parse_qs(parts.query).items()})
                return self._send(404, {"error": "not_found"})

            def _authorize(self, query):
                if query.get("client_id") != server.client_id or query.get("redirect_uri") != server.redirect_uri:
                    return self._send(400, {"error": "invalid_request", "error_description": "client or redirect"})
                if query.get("response_type") != "code":
                    return self._send(400, {"error": "unsupported_response_type"})
                if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                    return self._send(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
                code = secrets.token_urlsafe(24)
                with server.lock:
                    server.codes[code] = {
                        "challenge": query["code_challenge"],
                        "redirect_uri": query["redirect_uri"],
                        "scope": query.get("scope", ""),
                    }
                location = (
                    query["redirect_uri"]
                    + "?"
                    + urlencode({"code": code, "state": query.get("state", ""), "iss": server.issuer})
                )
                return self._send(302, None, {"Location": location})

            def do_POST(self):
                parts = urlsplit(self.path)
                server.hits.append(parts.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if parts.path == "/revoke":
                    with server.lock:
                        server.refresh_tokens.pop(form.get("token", ""), None)
                    return self._send(200, b"")
                if parts.path != "/token":
                    return self._send(404, {"error": "not_found"})
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                server.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
                if client_id != server.client_id or client_secret != server.client_secret:
                    return self._send(401, {"error": "invalid_client"})
                grant = form.get("grant_type")
                if grant == "authorization_code":
                    return self._code_grant(form)
                if grant == "refresh_token":
                    return self._refresh_grant(form)
                return self._send(400, {"error": "unsupported_grant_type"})

            def _code_grant(self, form):
                with server.lock:
                    grant = server.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._send(400, {"error": "invalid_grant"})
                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if digest != grant["challenge"]:
                    return self._send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                return self._send(200, self._mint(grant["scope"]))

            def _refresh_grant(self, form):
                token = form.get("refresh_token", "")
                with server.lock:
                    if token not in server.refresh_tokens:
                        return self._send(400, {"error": "invalid_grant"})
                    del server.refresh_tokens[token]  # rotation: a refresh token works once
                    server.used_refresh_tokens.add(token)
                return self._send(200, self._mint(""))

            def _mint(self, scope):
                access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
                with server.lock:
                    server.refresh_tokens[refresh] = access
                return {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": server.access_expires_in,
                    "refresh_token": refresh,
                    "scope": scope,
                }

        return Handler
