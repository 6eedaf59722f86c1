"""REQUESTS_CA_BUNDLE: every provider session (plain, SSRF-guarded, OAuth token calls) trusts the operator's private
CA, and proxy environment variables stay ignored. A real HTTPS server on 127.0.0.1 with a certificate of our own CA."""

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations import oauth
from providers.http import ProviderUnreachable, provider_request


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _private_ca_and_server_cert(directory):
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("On-premise Test CA"))
        .issuer_name(_name("On-premise Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@pytest.fixture
def https_server(tmp_path):
    ca_path, cert_path, key_path = _private_ca_and_server_cert(tmp_path)
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: dict):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            seen.append(self.path)
            self._answer({"ok": True})

        def do_POST(self):
            seen.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(
                {"access_token": "at-onprem", "token_type": "Bearer", "expires_in": 600, "refresh_token": "rt2"}
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", str(ca_path), seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy_env(monkeypatch):
    """Proxy variables pointing nowhere: a session that honoured them could not reach the server."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)


def test_without_the_bundle_the_private_ca_is_not_trusted(https_server, proxy_env, settings):
    url, _ca, seen = https_server
    settings.REQUESTS_CA_BUNDLE = ""
    with pytest.raises(ProviderUnreachable):
        provider_request("GET", f"{url}/health", max_retries=0)
    assert seen == []


def test_plain_and_guarded_sessions_trust_the_bundle_and_ignore_proxies(https_server, proxy_env, settings):
    url, ca, seen = https_server
    settings.REQUESTS_CA_BUNDLE = ca
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]

    plain = provider_request("GET", f"{url}/plain", max_retries=0)
    guarded = provider_request("GET", f"{url}/guarded", max_retries=0, ssrf_guard=True)

    assert plain.status_code == 200 and guarded.status_code == 200
    assert seen == ["/plain", "/guarded"]


def test_oauth_token_calls_trust_the_bundle_and_ignore_proxies(https_server, proxy_env, settings):
    url, ca, seen = https_server
    settings.REQUESTS_CA_BUNDLE = ca

    token = oauth.refresh_tokens(
        token_url=f"{url}/token", client_id="onprem", client_secret="onprem-secret", refresh_token="rt1"
    )

    assert token["access_token"] == "at-onprem" and seen == ["/token"]
