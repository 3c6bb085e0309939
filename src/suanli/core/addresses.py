"""Which network addresses the platform may send a cluster's requests to. Pure: no I/O (resolving names and
listing the platform's interfaces is ``backends.outbound``'s).

A cluster's endpoint is typed in by a seller, and the platform's scheduler connects to it every few seconds: left
unchecked, that lets anyone with a seller account make the platform reach its own services (``127.0.0.1``, the
cloud's metadata service on ``169.254.169.254``, the database on the private network) and read what they answer.
So an address is refused when it is not an address on the public Internet (loopback, link-local, private,
multicast, unspecified, reserved, the shared address space of carrier-grade NAT, IPv6 site-local, anything else
not globally routable) or when it is one of the platform's own addresses, unless it lies in a network the operator
allowed (``SUANLI_CLUSTER_ALLOWED_NETWORKS``: clusters on the operator's own private network). IPv6 addresses
that carry an IPv4 address (IPv4-mapped, 6to4, NAT64) are judged by the IPv4 address they lead to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["AddressPolicy", "IPAddress", "IPNetwork", "endpoint_host", "parse_networks"]

CGNAT = ipaddress.ip_network("100.64.0.0/10")
SITE_LOCAL = ipaddress.ip_network("fec0::/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
TEREDO = ipaddress.ip_network("2001::/32")

# Why an address is refused, in the order the checks run (the first that applies is the one reported).
UNSPECIFIED = "unspecified"
LOOPBACK = "loopback"
LINK_LOCAL = "link-local"
MULTICAST = "multicast"
SHARED = "shared address space (carrier-grade NAT)"
PRIVATE = "private"
RESERVED = "reserved"
SITE_LOCAL_REASON = "site-local"
TUNNEL = "Teredo tunnel"
NOT_GLOBAL = "not globally routable"
PLATFORM = "the platform's own address"


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.1.0.0/16, 192.168.7.5"`` → the networks (a bare address is a network of one). ``ValueError`` with a
    message naming the first entry that is not a network in CIDR notation."""
    networks = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP network in CIDR notation (such as 10.20.0.0/16 or "
                             "fd00::/8)") from None
    return tuple(networks)


def endpoint_host(endpoint: str) -> tuple[str, str, int]:
    """The scheme, host and port an ``http(s)://`` endpoint connects to (``ValueError`` saying what is wrong)."""
    try:
        parts = urlsplit(endpoint.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{endpoint!r} is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{endpoint!r} must be an http:// or https:// URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"{endpoint!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{endpoint!r} must not carry a user name or password: give them as credentials")
    return scheme, host, port if port is not None else (443 if scheme == "https" else 80)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (IPv4-mapped, 6to4, NAT64), else ``None``."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """``allowed``: networks the operator opened to clusters (they win over every refusal); ``own``: the platform's
    own addresses (its interfaces)."""

    allowed: tuple[IPNetwork, ...] = ()
    own: frozenset[IPAddress] = field(default_factory=frozenset)

    @classmethod
    def of(cls, allowed: Iterable[IPNetwork], own: Iterable[IPAddress]) -> AddressPolicy:
        return cls(tuple(allowed), frozenset(own))

    def is_allowed_network(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def refusal(self, address: IPAddress | str) -> str | None:
        """Why a cluster's request may not go to ``address`` (a short fixed reason), or ``None`` when it may."""
        address = ipaddress.ip_address(address)
        if self.is_allowed_network(address):
            return None
        inner = embedded_ipv4(address)
        if inner is not None:
            return self.refusal(inner)
        if address.is_unspecified:
            return UNSPECIFIED
        if address.is_loopback:
            return LOOPBACK
        if address.is_link_local:
            return LINK_LOCAL
        if address.is_multicast:
            return MULTICAST
        if address in CGNAT:
            return SHARED
        if address.is_private:
            return PRIVATE
        if address.is_reserved:
            return RESERVED
        if address.version == 6 and address in SITE_LOCAL:
            return SITE_LOCAL_REASON
        if address.version == 6 and address in TEREDO:
            return TUNNEL
        if not address.is_global:
            return NOT_GLOBAL
        if address in self.own:
            return PLATFORM
        return None
