"""SSRF guard for outbound webhook destinations.

Every server here listens on 127.0.0.1 and DNS answers for *.test names are faked: nothing reaches the internet.
"""

import datetime
import http.server
import ipaddress
import re
import socket
import ssl
import threading
import time
import types

import pytest
import requests

from webhooks.destinations import (
    SafeSession,
    UnsafeDestination,
    check_url,
    find_unsafe_destination,
    is_address_allowed,
    read_limited,
    safe_session,
)

BIG = 10 * 1024 * 1024
REAL_GETADDRINFO = socket.getaddrinfo


# --------------------------------------------------------------------------- a local HTTP(S) server


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests.append((self.path, self.headers.get("Host")))
        if self.path == "/ok":
            self._send(200, b"ok")
        elif self.path == "/redirect":
            self._send(302, b"moved", [("Location", "/secret")])
        elif self.path == "/redirect-big":
            self.send_response(302)
            self.send_header("Location", "/secret")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(BIG)
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(BIG)
        else:
            self._send(404, b"no")

    do_POST = do_GET

    def _stream(self, size):
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.accepted = 0
        self.requests = []
        super().__init__(*args, **kwargs)

    def verify_request(self, request, client_address):
        self.accepted += 1  # every TCP connection accepted, before any request is read
        return True


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def server():
    srv = _serve(_Server(("127.0.0.1", 0), _Handler))
    srv.port = srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Map test hostnames to chosen addresses; numeric hosts and others go to the real resolver."""
    answers = {}

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host in answers:
            entry = answers[host]
            ips = entry.pop(0) if isinstance(entry, list) and entry and isinstance(entry[0], list) else entry
            if not ips:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            out = []
            for ip in ips:
                if ipaddress.ip_address(ip).version == 6:
                    out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port or 0, 0, 0)))
                else:
                    out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port or 0)))
            return out
        if host.endswith(".test") or host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return REAL_GETADDRINFO(host, port, family, type, proto, flags)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


# --------------------------------------------------------------------------- check_url: URL shape


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://example.com/", "scheme must be http or https"),
        ("example.com/hook", "scheme must be http or https"),
        ("http:///path", "must include a host"),
        ("https://", "must include a host"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("https://user@example.com/hook", "credentials"),
        ("https://example.com:0/", "port"),
        ("https://example.com:65536/", "port"),
        ("https://example.com:http/", "port"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com\\@127.0.0.1/", "backslash"),
        ("", "empty"),
    ],
)
def test_check_url_refuses_bad_urls(url, message):
    with pytest.raises(UnsafeDestination, match=message):
        check_url(url, allowed_networks=[], resolve=False)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # legacy IPv4 forms resolve to loopback too
        "2130706433",
        "0x7f000001",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.10",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "[::1]",
        "[fc00::1]",
        "[fe80::1]",
        "[ff02::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    ],
)
@pytest.mark.parametrize("resolve", [True, False])
def test_check_url_refuses_internal_addresses(host, resolve):
    with pytest.raises(UnsafeDestination, match=r"^destination .+ is "):
        check_url(f"http://{host}:8080/hook", allowed_networks=[], resolve=resolve)


def test_refusal_message_names_the_address():
    with pytest.raises(UnsafeDestination, match=r"^destination 10\.0\.0\.5 is in a private network$"):
        check_url("https://10.0.0.5/", allowed_networks=[])


def test_check_url_allows_inside_allowed_networks():
    check_url("http://127.0.0.1:8000/hook", allowed_networks=["127.0.0.0/8"])
    check_url("http://[::ffff:127.0.0.1]:8000/hook", allowed_networks=["127.0.0.0/8"])
    check_url("http://10.1.2.3/hook", allowed_networks=["10.0.0.0/8", "::1/128"])
    with pytest.raises(UnsafeDestination):
        check_url("http://10.1.2.3/hook", allowed_networks=["127.0.0.0/8"])


def test_check_url_allows_public_ip_literal_without_dns(monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("no DNS lookup expected for an IP literal")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    check_url("https://93.184.216.34/hook", allowed_networks=[], resolve=True)
    check_url("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/hook", allowed_networks=[])


def test_check_url_resolves_names(fake_dns):
    fake_dns["public.test"] = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    fake_dns["mixed.test"] = ["93.184.216.34", "10.0.0.7"]
    fake_dns["internal.test"] = ["169.254.169.254"]
    check_url("https://public.test/hook", allowed_networks=[])
    with pytest.raises(UnsafeDestination, match=re.escape("10.0.0.7")):
        check_url("https://mixed.test/hook", allowed_networks=[])
    with pytest.raises(UnsafeDestination, match=re.escape("169.254.169.254")):
        check_url("https://internal.test/hook", allowed_networks=[])
    check_url("https://internal.test/hook", allowed_networks=[], resolve=False)  # shape only


def test_check_url_unresolvable_host(fake_dns):
    with pytest.raises(UnsafeDestination, match=re.escape("could not resolve host nowhere.invalid")):
        check_url("https://nowhere.invalid/hook", allowed_networks=[])


def test_localhost_name_refused_unless_allowed():
    with pytest.raises(UnsafeDestination, match="loopback"):
        check_url("http://localhost:8000/", allowed_networks=[])
    check_url("http://localhost:8000/", allowed_networks=["127.0.0.0/8", "::1/128"])


def test_allowed_networks_default_to_django_setting(monkeypatch):
    import django.conf

    monkeypatch.setattr(django.conf, "settings", types.SimpleNamespace(WEBHOOK_ALLOWED_NETWORKS=["127.0.0.0/8"]))
    check_url("http://127.0.0.1/")
    assert is_address_allowed("127.0.0.1")
    monkeypatch.setattr(
        django.conf, "settings", types.SimpleNamespace(WEBHOOK_ALLOWED_NETWORKS="10.0.0.0/8, 127.0.0.0/8")
    )
    assert is_address_allowed("10.9.9.9")
    monkeypatch.setattr(django.conf, "settings", types.SimpleNamespace())
    assert not is_address_allowed("127.0.0.1")


def test_invalid_allowed_network_is_value_error():
    with pytest.raises(ValueError, match="invalid network"):
        check_url("http://127.0.0.1/", allowed_networks=["not-a-cidr"])


def test_is_address_allowed():
    assert is_address_allowed("93.184.216.34", [])
    assert is_address_allowed("2606:2800:220:1:248:1893:25c8:1946", [])
    for ip in ("127.0.0.1", "10.0.0.1", "::1", "fc00::1", "::ffff:127.0.0.1", "0.0.0.0", "not an ip"):
        assert not is_address_allowed(ip, [])
    assert is_address_allowed("127.0.0.1", ["127.0.0.0/8"])
    assert is_address_allowed("::ffff:127.0.0.1", ["127.0.0.0/8"])
    assert is_address_allowed(ipaddress.ip_address("10.0.0.1"), ["10.0.0.0/8"])


# --------------------------------------------------------------------------- safe_session: connect-time guard


def test_safe_session_refuses_loopback_and_nothing_reaches_server(server):
    session = safe_session(allowed_networks=[])
    for url in (
        f"http://127.0.0.1:{server.port}/ok",
        f"http://localhost:{server.port}/ok",
        f"https://localhost:{server.port}/ok",
    ):
        with pytest.raises(UnsafeDestination, match=re.escape("127.0.0.1 is a loopback address")):
            session.post(url, data=b"{}", timeout=5)
    assert server.accepted == 0
    assert server.requests == []


def test_safe_session_allows_inside_allowed_networks(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    response = session.get(f"http://127.0.0.1:{server.port}/ok", timeout=5)
    assert (response.status_code, response.content) == (200, b"ok")


def test_safe_session_checks_names_at_connect_time(server):
    session = safe_session(allowed_networks=["127.0.0.0/8", "::1/128"])
    response = session.get(f"http://localhost:{server.port}/ok", timeout=5)
    assert response.status_code == 200
    assert server.requests == [("/ok", f"localhost:{server.port}")]


def test_safe_session_defeats_dns_rebinding(server, fake_dns):
    # check_url sees a public address; at delivery time the name answers 127.0.0.1.
    fake_dns["rebind.test"] = [["93.184.216.34"], ["127.0.0.1"]]
    url = f"http://rebind.test:{server.port}/ok"
    check_url(url, allowed_networks=[])
    with pytest.raises(UnsafeDestination, match=re.escape("127.0.0.1")):
        safe_session(allowed_networks=[]).get(url, timeout=5)
    assert server.accepted == 0


def test_safe_session_refuses_when_any_address_is_unsafe(server, fake_dns):
    fake_dns["mixed.test"] = ["127.0.0.1", "10.0.0.1"]
    with pytest.raises(UnsafeDestination, match=re.escape("10.0.0.1")):
        safe_session(allowed_networks=["127.0.0.0/8"]).get(f"http://mixed.test:{server.port}/ok", timeout=5)
    assert server.accepted == 0


def test_safe_session_connects_to_checked_address_and_keeps_host_header(server, fake_dns):
    fake_dns["hooks.test"] = ["127.0.0.1"]
    response = safe_session(allowed_networks=["127.0.0.0/8"]).get(f"http://hooks.test:{server.port}/ok", timeout=5)
    assert response.status_code == 200
    assert server.requests == [("/ok", f"hooks.test:{server.port}")]


def test_safe_session_unresolvable_host_is_connection_error(fake_dns):
    with pytest.raises(requests.ConnectionError):
        safe_session(allowed_networks=[]).get("http://nowhere.invalid/", timeout=5)


def test_safe_session_ignores_environment_proxies(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.9.9.9:3128")
    response = safe_session(allowed_networks=["127.0.0.0/8"]).get(f"http://127.0.0.1:{server.port}/ok", timeout=5)
    assert response.status_code == 200
    with pytest.raises(UnsafeDestination, match="proxies"):
        safe_session(allowed_networks=["127.0.0.0/8"]).get(
            f"http://127.0.0.1:{server.port}/ok", proxies={"http": "http://10.9.9.9:3128"}, timeout=5
        )


def test_find_unsafe_destination():
    inner = UnsafeDestination("destination 10.0.0.1 is in a private network")
    try:
        try:
            raise inner
        except UnsafeDestination as exc:
            raise requests.ConnectionError(exc) from exc
    except requests.ConnectionError as wrapped:
        assert find_unsafe_destination(wrapped) is inner
    assert find_unsafe_destination(requests.ConnectionError("refused")) is None
    assert find_unsafe_destination(inner) is inner
    assert find_unsafe_destination(None) is None


# --------------------------------------------------------------------------- redirects, keep-alive, pool


@pytest.mark.parametrize("allow_redirects", [None, True, False])
def test_redirects_are_not_followed(server, allow_redirects):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    kwargs = {} if allow_redirects is None else {"allow_redirects": allow_redirects}
    response = session.post(f"http://127.0.0.1:{server.port}/redirect", data=b"{}", timeout=5, **kwargs)
    assert response.status_code == 302
    assert response.headers["Location"] == "/secret"
    assert response.history == []
    assert response.next is None
    assert [path for path, _ in server.requests] == ["/redirect"]


def test_redirect_body_is_not_read_into_memory(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    started = time.monotonic()
    response = session.get(f"http://127.0.0.1:{server.port}/redirect-big", stream=True, timeout=5)
    assert response.status_code == 302
    assert not response._content_consumed
    body, truncated = read_limited(response, 100)
    assert (len(body), truncated) == (100, True)
    assert time.monotonic() - started < 5
    assert [path for path, _ in server.requests] == ["/redirect-big"]


def test_prepared_request_send_does_not_follow_redirects(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    prepared = requests.Request("GET", f"http://127.0.0.1:{server.port}/redirect").prepare()
    response = session.send(prepared, allow_redirects=True, timeout=5)
    assert response.status_code == 302
    assert [path for path, _ in server.requests] == ["/redirect"]


def test_connections_are_kept_alive(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    for _ in range(5):
        response = session.post(f"http://127.0.0.1:{server.port}/ok", data=b"{}", stream=True, timeout=5)
        assert read_limited(response, 1024) == (b"ok", False)
    assert server.accepted == 1
    assert len(server.requests) == 5


def test_session_type_and_pool_sizes():
    session = safe_session(allowed_networks=[])
    assert isinstance(session, SafeSession)
    assert session.trust_env is False
    for prefix in ("http://", "https://"):
        adapter = session.get_adapter(prefix + "example.com")
        assert adapter._pool_maxsize == 50
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 50


# --------------------------------------------------------------------------- read_limited


def test_read_limited_truncates_big_body(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    response = session.get(f"http://127.0.0.1:{server.port}/big", stream=True, timeout=5)
    body, truncated = read_limited(response, 64 * 1024 + 7)
    assert len(body) == 64 * 1024 + 7
    assert truncated is True
    assert set(body) == {ord("x")}


def test_read_limited_body_within_limit(server):
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    response = session.get(f"http://127.0.0.1:{server.port}/ok", stream=True, timeout=5)
    assert read_limited(response, 2) == (b"ok", False)  # exactly the limit is not truncated
    response = session.get(f"http://127.0.0.1:{server.port}/ok", stream=True, timeout=5)
    assert read_limited(response, 1) == (b"o", True)
    response = session.get(f"http://127.0.0.1:{server.port}/ok", stream=True, timeout=5)
    assert read_limited(response, 0) == (b"", True)


# --------------------------------------------------------------------------- HTTPS: cert checked against the URL's name


def _self_signed(tmp_path, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / f"{name}.pem"
    key_file = tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server(tmp_path):
    cert_file, key_file = _self_signed(tmp_path, "hooks.test")
    srv = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.port = srv.server_address[1]
    srv.cert_file = cert_file
    _serve(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_https_verifies_certificate_against_url_hostname(tls_server, fake_dns):
    fake_dns["hooks.test"] = ["127.0.0.1"]
    fake_dns["other.test"] = ["127.0.0.1"]
    session = safe_session(allowed_networks=["127.0.0.0/8"])
    response = session.get(f"https://hooks.test:{tls_server.port}/ok", verify=tls_server.cert_file, timeout=5)
    assert (response.status_code, response.content) == (200, b"ok")
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://other.test:{tls_server.port}/ok", verify=tls_server.cert_file, timeout=5)
    with pytest.raises(UnsafeDestination):
        safe_session(allowed_networks=[]).get(f"https://hooks.test:{tls_server.port}/ok", verify=tls_server.cert_file)
