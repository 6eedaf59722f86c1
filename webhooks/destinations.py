"""Safe outbound webhook destinations: an SSRF guard.

Two layers:

* :func:`check_url` validates a destination URL when it is saved (and may be called again
  before a delivery): http(s) only, no credentials, and every address the host resolves to
  must be globally routable unless it lies inside an allowed network.
* :func:`safe_session` returns a ``requests`` session whose connections check the address
  they ACTUALLY connect to. The session resolves the host itself, checks every candidate
  address, then connects to a checked address, so a DNS answer that changes between
  :func:`check_url` and the delivery (DNS rebinding) cannot reach an internal service.
  TLS still verifies the certificate against, and sends SNI for, the URL's hostname.

A refused connection raises :class:`UnsafeDestination` straight out of ``session.post(...)``
(it is not wrapped in ``requests.ConnectionError``); :func:`find_unsafe_destination` also finds
it inside a wrapping exception, should a future urllib3 wrap it.

Allowed networks (CIDR strings, e.g. ``["127.0.0.0/8"]`` in development) come from the
``allowed_networks`` argument, or from the Django setting ``WEBHOOK_ALLOWED_NETWORKS`` when
the argument is None.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util import connection as urllib3_connection

__all__ = [
    "DEFAULT_POOL_CONNECTIONS",
    "DEFAULT_POOL_MAXSIZE",
    "SafeSession",
    "UnsafeDestination",
    "check_url",
    "find_unsafe_destination",
    "is_address_allowed",
    "read_limited",
    "safe_session",
]

DEFAULT_POOL_CONNECTIONS = 100  # distinct (scheme, host, port) pools kept
DEFAULT_POOL_MAXSIZE = 50  # keep-alive connections kept per pool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the IPv4 address is the last 32 bits
# Refused whatever ipaddress says of them (its tables differ between Python patch releases).
_ALWAYS_UNSAFE: tuple[IPNetwork, ...] = (
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64 (RFC 8215)
    ipaddress.IPv4Network("100.64.0.0/10"),  # carrier-grade NAT shared space (RFC 6598)
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.IPv4Network("198.18.0.0/15"),  # benchmarking
)


class UnsafeDestination(ValueError):
    """The destination URL or the address it resolves to is not allowed."""


# --------------------------------------------------------------------------- addresses


def _parse_networks(allowed_networks: Iterable[str] | str | None) -> tuple[IPNetwork, ...]:
    """Parse CIDR strings; None reads the Django setting ``WEBHOOK_ALLOWED_NETWORKS`` (lazily)."""
    if allowed_networks is None:
        from django.conf import settings  # lazy: this module imports without Django configured

        allowed_networks = getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", None) or ()
    if isinstance(allowed_networks, str):
        allowed_networks = allowed_networks.replace(",", " ").split()
    networks = []
    for item in allowed_networks:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
            continue
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ValueError(f"invalid network in allowed networks: {item!r}") from None
    return tuple(networks)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _unsafe_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be contacted, or None when it is a public unicast address."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = _unsafe_reason(embedded)
        if reason is not None:
            return reason
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "in a private network"
    if ip.is_reserved:
        return "in a reserved network"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if not ip.is_global or any(ip.version == net.version and ip in net for net in _ALWAYS_UNSAFE):
        return "not a globally routable address"
    return None


def _to_ip(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ip
    text = str(ip).strip().strip("[]")
    return ipaddress.ip_address(text)


def _in_networks(ip: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    candidates = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    return any(c.version == net.version and c in net for c in candidates for net in networks)


def _check_address(ip: str | IPAddress, networks: Sequence[IPNetwork]) -> None:
    try:
        address = _to_ip(ip)
    except ValueError:
        raise UnsafeDestination(f"destination {ip} is not a valid IP address") from None
    if _in_networks(address, networks):
        return
    reason = _unsafe_reason(address)
    if reason is not None:
        raise UnsafeDestination(f"destination {address} is {reason}")


def is_address_allowed(ip: str | IPAddress, allowed_networks: Sequence[str] | None = None) -> bool:
    """True when ``ip`` is globally routable or inside ``allowed_networks`` (None: Django setting)."""
    try:
        _check_address(ip, _parse_networks(allowed_networks))
    except UnsafeDestination:
        return False
    return True


def _sockaddr_ip(sockaddr: tuple[Any, ...]) -> str:
    """The IP of a getaddrinfo sockaddr, without an IPv6 zone id (``fe80::1%eth0``)."""
    return str(sockaddr[0]).split("%", 1)[0]


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM)


# --------------------------------------------------------------------------- URLs


def _literal_ip(host: str) -> IPAddress | None:
    """``host`` as an IP when it is one, including legacy IPv4 forms (``127.1``, ``0x7f000001``)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url(url: str, *, allowed_networks: Sequence[str] | None = None, resolve: bool = True) -> None:
    """Raise :class:`UnsafeDestination` unless ``url`` is a safe webhook destination.

    Requires http(s), a host, no ``user:pass@`` and a port in 1-65535. IP literals are
    always checked; with ``resolve`` the host is resolved and refused when ANY of its
    addresses is private, loopback, link-local, multicast, reserved, unspecified or otherwise
    not globally routable, unless it lies inside ``allowed_networks`` (None: the Django
    setting ``WEBHOOK_ALLOWED_NETWORKS``). Deliveries must still go through
    :func:`safe_session`: DNS may answer differently later.
    """
    if not isinstance(url, str) or not url:
        raise UnsafeDestination("URL is empty")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UnsafeDestination("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UnsafeDestination("URL is not valid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeDestination("URL scheme must be http or https")
    if "@" in parts.netloc:
        raise UnsafeDestination("URL must not contain credentials")
    host = parts.hostname
    if not host:
        raise UnsafeDestination("URL must include a host")
    try:
        port = parts.port
    except ValueError:
        raise UnsafeDestination("URL port must be between 1 and 65535") from None
    if port is not None and not 1 <= port <= 65535:
        raise UnsafeDestination("URL port must be between 1 and 65535")
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80

    networks = _parse_networks(allowed_networks)
    literal = _literal_ip(host)
    if literal is not None:
        _check_address(literal, networks)
        return
    if not resolve:
        return
    try:
        infos = _resolve(host.rstrip("."), port)
    except (OSError, UnicodeError):
        raise UnsafeDestination(f"could not resolve host {host}") from None
    if not infos:
        raise UnsafeDestination(f"could not resolve host {host}")
    for info in infos:
        _check_address(_sockaddr_ip(info[4]), networks)


# --------------------------------------------------------------------------- connection-time guard


class _GuardedConnectionMixin:
    """Resolve, check every address, then connect to a checked address only."""

    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    _dns_host: str

    def __init__(self, *args: Any, allowed_networks: tuple[IPNetwork, ...] = (), **kwargs: Any) -> None:
        self._allowed_networks = allowed_networks
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        host = self._dns_host.strip("[]")
        try:
            infos = _resolve(host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        if not infos:
            raise NewConnectionError(self, "Failed to establish a new connection: no address")  # type: ignore[arg-type]
        for info in infos:  # refuse when ANY candidate is unsafe, like check_url
            _check_address(_sockaddr_ip(info[4]), self._allowed_networks)

        last_error: OSError | None = None
        for _family, _type, _proto, _name, sockaddr in infos:
            try:
                # A numeric address: urllib3's create_connection does no further DNS lookup.
                sock = urllib3_connection.create_connection(
                    (sockaddr[0], sockaddr[1]),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:  # try the next checked address, like urllib3 does
                last_error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(last_error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from last_error
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}") from last_error  # type: ignore[arg-type]


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    def __init__(self, *args: Any, allowed_networks: tuple[IPNetwork, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._allowed_networks = allowed_networks
        self.pool_classes_by_scheme = {"http": _GuardedHTTPConnectionPool, "https": _GuardedHTTPSConnectionPool}

    def _new_pool(self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None) -> Any:
        if scheme not in self.pool_classes_by_scheme:
            raise UnsafeDestination("URL scheme must be http or https")
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["allowed_networks"] = self._allowed_networks
        return pool


class _GuardedAdapter(HTTPAdapter):
    __attrs__ = [*HTTPAdapter.__attrs__, "_allowed_networks"]

    def __init__(self, *, allowed_networks: tuple[IPNetwork, ...], **kwargs: Any) -> None:
        self._allowed_networks = allowed_networks  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            allowed_networks=self._allowed_networks,
            **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise UnsafeDestination("proxies are not supported for webhook deliveries")


class SafeSession(requests.Session):
    """A session that never follows redirects, ignores proxy/netrc environment and refuses unsafe peers.

    ``allow_redirects`` is always False, whatever the caller passes: a 3xx response is
    returned as is (its body unread, ``response.next`` is None).
    """

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("proxies"):
            raise UnsafeDestination("proxies are not supported for webhook deliveries")
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)

    def resolve_redirects(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # requests reads a redirect response's whole body here even with allow_redirects=False.
        return iter(())


def safe_session(
    *,
    allowed_networks: Sequence[str] | None = None,
    pool_connections: int = DEFAULT_POOL_CONNECTIONS,
    pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
) -> SafeSession:
    """Return a keep-alive session (build once per worker and reuse it) that refuses unsafe peers.

    Every new connection resolves the host, refuses (raising :class:`UnsafeDestination`)
    when any resolved address is not globally routable and not inside ``allowed_networks``
    (None: the Django setting ``WEBHOOK_ALLOWED_NETWORKS``, read now), and connects to a
    checked address. :class:`UnsafeDestination` propagates unwrapped out of
    ``session.post(...)``; catch it before ``requests.RequestException`` (it is a
    ``ValueError``, not a ``RequestException``), or use :func:`find_unsafe_destination`.
    Redirects are never followed; environment proxies and ``.netrc`` are ignored
    (``trust_env`` is False). Call with ``stream=True`` and :func:`read_limited` to cap
    the response body read.
    """
    networks = _parse_networks(allowed_networks)
    session = SafeSession()
    session.trust_env = False
    session.max_redirects = 0
    for prefix in ("https://", "http://"):
        session.mount(
            prefix,
            _GuardedAdapter(
                allowed_networks=networks,
                pool_connections=pool_connections,
                pool_maxsize=pool_maxsize,
                max_retries=0,
            ),
        )
    return session


def find_unsafe_destination(exc: BaseException | None) -> UnsafeDestination | None:
    """Return the :class:`UnsafeDestination` that ``exc`` is or wraps (cause, context or args), else None."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, UnsafeDestination):
            return current
        stack.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))
    return None


def read_limited(response: requests.Response, limit: int, *, chunk_size: int = 65536) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of a ``stream=True`` response; return ``(body, truncated)``.

    Reads in chunks and stops one byte past the limit, so memory stays bounded by
    ``limit + chunk_size``. The response is closed afterwards; a fully read response
    returns its connection to the pool, a truncated one drops it.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    buffer = bytearray()
    truncated = False
    try:
        for chunk in response.iter_content(chunk_size=max(1, min(chunk_size, limit + 1))):
            buffer += chunk
            if len(buffer) > limit:
                truncated = True
                del buffer[limit:]
                break
    finally:
        response.close()
    return bytes(buffer), truncated
