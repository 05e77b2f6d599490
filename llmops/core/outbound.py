"""The HTTP client for calls to tenant-configured servers: every connection vetted, no redirects, no
proxies from the environment.

huggingface_hub sends all its requests through one shared client made by a factory;
``install_outbound_client`` makes that factory this one, so every URL an ``InferenceClient`` reaches
(a ``base_url``, a provider's router, anything a library builds) is checked where the socket opens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import httpcore2
import httpx2
from huggingface_hub import set_client_factory
from huggingface_hub.utils._http import hf_request_event_hook

from llmops.core.net import resolve_vetted

logger = logging.getLogger(__name__)


class RedirectRefused(Exception):
    """The server answered a redirect: model calls never follow one, it could lead anywhere."""

    def __init__(self, status_code: int, location: str) -> None:
        self.status_code = status_code
        self.location = location
        super().__init__(
            f"the model server answered HTTP {status_code} redirecting to {location[:200]!r}; redirects are not "
            "followed: set base_url to the final address"
        )


class VettedBackend(httpcore2.SyncBackend):
    """Resolves the host once, vets every address, and connects to a vetted address itself.

    httpcore passes the request's host name separately to TLS, so certificate checks and SNI still use
    the name while the socket goes only to the address that was checked.
    """

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple] | None = None,
    ) -> httpcore2.NetworkStream:
        addresses = resolve_vetted(host, port, param="base_url")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                last_error = error
        assert last_error is not None
        raise last_error


class VettedTransport(httpx2.HTTPTransport):
    def __init__(self, *, limits: httpx2.Limits | None = None) -> None:
        limits = limits or httpx2.Limits(max_connections=200, max_keepalive_connections=64)
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=VettedBackend(),
        )


def refuse_redirect(response: httpx2.Response) -> None:
    if 300 <= response.status_code < 400 and response.status_code != 304:
        raise RedirectRefused(response.status_code, response.headers.get("location", ""))


def outbound_client() -> httpx2.Client:
    return httpx2.Client(
        transport=VettedTransport(),
        follow_redirects=False,
        trust_env=False,  # an environment proxy would resolve names itself, past the vetting
        timeout=None,  # each InferenceClient call passes the endpoint's timeout
        event_hooks={"request": [hf_request_event_hook], "response": [refuse_redirect]},
    )


def install_outbound_client() -> None:
    set_client_factory(outbound_client)
