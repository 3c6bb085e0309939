"""Every HTTP request the platform sends to a cluster goes through here (``http_client``).

* Before each connection the endpoint's host is resolved and every address checked against the address policy
  (``core.addresses``: no loopback, private, link-local ... or the platform's own addresses, unless the operator
  allowed the network in ``SUANLI_CLUSTER_ALLOWED_NETWORKS``).
* The connection then goes to the very address that was checked (the request's URL is rewritten to it; the
  ``Host`` header and TLS's server name stay the endpoint's host, so certificates are verified as usual). A DNS
  answer that changes between the check and the connection (DNS rebinding) cannot move the request elsewhere.
* Redirects are never followed, and proxies from the environment are not used.
* What goes wrong is said with a short fixed reason (``failure_reason``, ``status_reason``): never the text of a
  remote answer, which would let a seller read whatever a service answers.

``check_endpoint`` is the same check at registration (422 ``endpoint_not_allowed`` for the API).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping

import httpx

from suanli.backends.base import BackendError
from suanli.config import CLUSTER_ALLOWED_NETWORKS, SettingsError, cluster_allowed_networks
from suanli.core.addresses import AddressPolicy, IPAddress, endpoint_host

__all__ = ["EndpointNotAllowed", "check_endpoint", "failure_reason", "http_client", "platform_addresses",
           "status_reason"]

OWN_ADDRESSES_TTL = 30.0
"""Seconds the platform's interface addresses are cached (interfaces seldom change)."""

_own_cache: tuple[float, frozenset[IPAddress]] = (0.0, frozenset())
_own_lock = threading.Lock()


class EndpointNotAllowed(BackendError):
    """The endpoint's host is, or resolves to, an address clusters may not be reached on."""

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message, kind=kind, reason="endpoint not allowed")


def platform_addresses() -> frozenset[IPAddress]:
    """The addresses of this machine's interfaces (cached ``OWN_ADDRESSES_TTL`` seconds)."""
    global _own_cache
    with _own_lock:
        at, addresses = _own_cache
        if time.monotonic() - at < OWN_ADDRESSES_TTL and addresses:
            return addresses
        import psutil

        found = set()
        for entries in psutil.net_if_addrs().values():
            for entry in entries:
                if entry.family in (socket.AF_INET, socket.AF_INET6):
                    try:
                        found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
                    except ValueError:
                        continue
        _own_cache = (time.monotonic(), frozenset(found))
        return _own_cache[1]


def current_policy() -> AddressPolicy:
    """The policy now: the operator's allowed networks (read from the environment) and this machine's addresses. A
    setting that cannot be read allows nothing extra: ``EndpointNotAllowed`` saying what is wrong with it."""
    try:
        allowed = cluster_allowed_networks()
    except SettingsError as exc:
        raise EndpointNotAllowed(f"no cluster request is sent while {exc}") from None
    return AddressPolicy.of(allowed, platform_addresses())


def allowed_address(host: str, port: int, *, kind: str | None = None) -> str:
    """The address of ``host`` to connect to: the first one it resolves to that the policy allows.
    ``EndpointNotAllowed`` when none is; ``BackendError`` (reason ``host not found``) when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BackendError(f"the cluster's host {host!r} cannot be resolved", kind=kind,
                           reason="host not found") from None
    policy = current_policy()
    refused = []
    for info in infos:
        address = info[4][0].split("%", 1)[0]
        why = policy.refusal(address)
        if why is None:
            return address
        refused.append(f"{address} ({why})")
    raise EndpointNotAllowed(
        f"the cluster's host {host!r} is {', '.join(dict.fromkeys(refused))}: clusters must be reached on "
        "public addresses. An operator can allow a private network for clusters in the setting "
        f"{CLUSTER_ALLOWED_NETWORKS} (comma-separated CIDRs, e.g. 10.20.0.0/16)", kind=kind)


def check_endpoint(endpoint: str, *, kind: str | None = None) -> None:
    """Registration's check of an http(s) endpoint: ``BackendError`` for a malformed URL or a host that does not
    resolve, ``EndpointNotAllowed`` for one the policy refuses."""
    try:
        _scheme, host, port = endpoint_host(endpoint)
    except ValueError as exc:
        raise BackendError(str(exc), kind=kind, reason="invalid endpoint") from None
    allowed_address(host, port, kind=kind)


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that connects only to an address the policy allows, the one it checked."""

    def __init__(self, *, kind: str | None = None, verify: bool | ssl.SSLContext = True) -> None:
        self.kind = kind
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        address = allowed_address(host, request.url.port or (443 if request.url.scheme == "https" else 80),
                                  kind=self.kind)
        if address != host:
            if request.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
            request.url = request.url.copy_with(host=address)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def http_client(endpoint: str, *, kind: str, timeout: float, headers: Mapping[str, str] | None = None,
                path: str = "") -> httpx.Client:
    """The client a backend talks to its cluster with: every request checked and pinned (module docstring)."""
    return httpx.Client(base_url=endpoint.rstrip("/") + path, timeout=timeout, headers=dict(headers or {}),
                        transport=PinnedTransport(kind=kind), follow_redirects=False, trust_env=False)


def failure_reason(exc: BaseException) -> str:
    """A short fixed reason for a failed request (never the remote's words)."""
    if isinstance(exc, BackendError) and exc.reason:
        return exc.reason
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "TLS error"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "TLS error"
    if "connection refused" in text or "errno 111" in text:
        return "connection refused"
    return "unreachable"


def status_reason(status_code: int) -> str:
    """A short fixed reason for an HTTP status the cluster answered with."""
    if status_code in (401, 403):
        return "authentication failed"
    if 300 <= status_code < 400:
        return f"HTTP {status_code} (redirects are not followed)"
    return f"HTTP {status_code}"
