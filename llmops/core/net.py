"""Outbound call policy for tenant-configured destinations (SSRF guard).

A project admin can point a model endpoint at any URL, and the worker will POST prompts there with a
credential. Unless an operator allow-lists the host, the destination may not be a loopback, private,
link-local (cloud metadata at 169.254.169.254), shared (100.64/10), multicast, reserved or unspecified
address, including such an address wrapped in an IPv6 form (IPv4-mapped or -compatible, 6to4, Teredo,
NAT64).

Two checks use these rules:
- ``validate_outbound_url`` when a URL is saved, for an early, clear 400;
- ``llmops.core.outbound.VettedBackend`` when a connection is opened: it resolves the host once, vets every address and
  connects to the vetted address itself (TLS still verifies and sends SNI for the host name), so a DNS
  answer that changes between the check and the connection (rebinding) cannot reach another address.
  Allow-listed host names are pinned the same way: resolved once, connected to that address.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from llmops.core.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def host_allowed(host: str, port: int | None) -> bool:
    """True when the operator's MODEL_BASE_URL_ALLOWLIST names this host (or host:port)."""
    allow_list = [entry.lower() for entry in getattr(settings, "MODEL_BASE_URL_ALLOWLIST", [])]
    host = host.lower().strip("[]")
    return host in allow_list or (port is not None and f"{host}:{port}" in allow_list)


def embedded_addresses(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address an IPv6 form carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if not isinstance(address, ipaddress.IPv6Address):
        return found
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    for prefix in _NAT64_PREFIXES:
        if address in prefix:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::a.b.c.d (deprecated form); :: and ::1 stay IPv6
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _not_public(address: IPAddress) -> bool:
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE)
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def is_forbidden(address: IPAddress) -> bool:
    """True when the address, or an address it wraps, is not a public unicast address."""
    return any(_not_public(candidate) for candidate in embedded_addresses(address))


def parse_address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])


def resolve_vetted(host: str, port: int, *, param: str = "base_url") -> list[str]:
    """Resolve ``host`` once and return its addresses, or raise ValidationFailed.

    Every address must be public unless the host is allow-listed: one forbidden answer among several
    refuses the host, so a round-robin answer cannot smuggle in an internal address.
    """
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        raise ValidationFailed(
            f"{param} host '{host}' does not resolve", code="unresolvable_host", param=param
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ValidationFailed(f"{param} host '{host}' does not resolve", code="unresolvable_host", param=param)
    if host_allowed(host, port):
        return addresses
    for text in addresses:
        address = parse_address(text)
        if is_forbidden(address):
            raise ValidationFailed(
                f"{param} host '{host}' resolves to {address}, a non-public address; an operator can allow it "
                "with MODEL_BASE_URL_ALLOWLIST",
                code="forbidden_address",
                param=param,
            )
    return addresses


def validate_outbound_url(url: str, *, param: str = "base_url", resolve: bool = True) -> str:
    """The URL unchanged, or ValidationFailed naming why it may not be called.

    ``resolve=False`` checks only the URL's form; the connection itself is vetted by VettedBackend.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(f"{param} must be an http(s) URL with a host", code="invalid_url", param=param)
    if parts.username or parts.password:
        raise ValidationFailed(
            f"{param} must not carry credentials; store the key on the endpoint (api_key)",
            code="invalid_url",
            param=param,
        )
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise ValidationFailed(
            f"{param} must not contain spaces or control characters", code="invalid_url", param=param
        )
    try:
        port = parts.port
    except ValueError:
        raise ValidationFailed(f"{param} has an invalid port", code="invalid_url", param=param) from None
    if resolve:
        resolve_vetted(parts.hostname, port or (443 if parts.scheme == "https" else 80), param=param)
    return url
