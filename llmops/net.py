"""Outbound URL policy for model endpoints (SSRF guard).

A project admin can point a model endpoint at any URL, and the worker will POST prompts there
with a credential. Unless an operator allow-lists the host, the URL may not resolve to loopback,
private, link-local (which includes cloud metadata at 169.254.169.254), multicast, reserved or
unspecified addresses. The check resolves the name, so it is repeated right before each call:
a DNS answer that changed since the endpoint was saved is caught too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from llmops.errors import ValidationFailed


def _allowed(host: str, port: int | None) -> bool:
    allow_list = [entry.lower() for entry in getattr(settings, "MODEL_BASE_URL_ALLOWLIST", [])]
    host = host.lower()
    return host in allow_list or (port is not None and f"{host}:{port}" in allow_list)


def _is_forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"))
    )


def validate_outbound_url(url: str, *, param: str = "base_url") -> str:
    """The URL unchanged, or ValidationFailed naming why it may not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("base_url must be an http(s) URL with a host", code="invalid_url", param=param)
    if parts.username or parts.password:
        raise ValidationFailed("base_url must not carry credentials; use api_key_env", code="invalid_url", param=param)
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise ValidationFailed("base_url has an invalid port", code="invalid_url", param=param) from None
    if _allowed(host, port):
        return url
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise ValidationFailed(
            f"base_url host '{host}' does not resolve", code="unresolvable_host", param=param
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _is_forbidden(address):
            raise ValidationFailed(
                f"base_url host '{host}' resolves to {address}, a non-public address; an operator can allow it "
                "with MODEL_BASE_URL_ALLOWLIST",
                code="forbidden_address",
                param=param,
            )
    return url
