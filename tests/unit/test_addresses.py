"""The address policy of cluster requests (core/addresses.py): what is refused, what the operator can allow."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.core import addresses
from suanli.core.addresses import AddressPolicy, endpoint_host, parse_networks

POLICY = AddressPolicy()


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", addresses.LOOPBACK),
    ("127.255.0.9", addresses.LOOPBACK),
    ("::1", addresses.LOOPBACK),
    ("0.0.0.0", addresses.UNSPECIFIED),
    ("::", addresses.UNSPECIFIED),
    ("169.254.169.254", addresses.LINK_LOCAL),  # cloud metadata services
    ("fe80::1", addresses.LINK_LOCAL),
    ("224.0.0.1", addresses.MULTICAST),
    ("ff02::1", addresses.MULTICAST),
    ("100.64.0.1", addresses.SHARED),
    ("100.127.255.254", addresses.SHARED),
    ("10.0.0.1", addresses.PRIVATE),
    ("172.16.5.4", addresses.PRIVATE),
    ("192.168.1.1", addresses.PRIVATE),
    ("fd12:3456::1", addresses.PRIVATE),
    ("192.0.2.1", addresses.PRIVATE),  # documentation: Python counts it private
    ("240.0.0.1", addresses.PRIVATE),
    ("255.255.255.255", addresses.PRIVATE),
    ("fec0::1", addresses.SITE_LOCAL_REASON),
    ("::ffff:127.0.0.1", addresses.LOOPBACK),  # IPv4-mapped: judged by the IPv4 address
    ("::ffff:10.1.2.3", addresses.PRIVATE),
    ("2002:7f00:1::1", addresses.LOOPBACK),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", addresses.LINK_LOCAL),  # 6to4 of 169.254.169.254
    ("64:ff9b::a9fe:a9fe", addresses.LINK_LOCAL),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", addresses.LOOPBACK),
])
def test_refused_addresses_say_why(address, reason):
    assert POLICY.refusal(address) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "114.114.114.114", "2400:3200::1", "100.128.0.1",
                                     "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_are_allowed(address):
    assert POLICY.refusal(address) is None


def test_the_platforms_own_public_address_is_refused_unless_allowed():
    own = ipaddress.ip_address("203.0.113.77")
    public_own = ipaddress.ip_address("59.110.1.2")
    policy = AddressPolicy.of((), [own, public_own])
    assert policy.refusal("59.110.1.2") == addresses.PLATFORM
    assert policy.refusal("59.110.1.3") is None
    assert AddressPolicy.of(parse_networks("59.110.1.2/32"), [public_own]).refusal("59.110.1.2") is None


def test_allowed_networks_win_over_every_refusal():
    policy = AddressPolicy.of(parse_networks("127.0.0.0/8, 10.20.0.0/16,fd00::/8"), [])
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("10.20.3.4") is None
    assert policy.refusal("::ffff:10.20.3.4") is None
    assert policy.refusal("fd00::5") is None
    assert policy.refusal("10.21.0.1") == addresses.PRIVATE
    assert policy.refusal("::1") == addresses.LOOPBACK  # 127.0.0.0/8 does not open IPv6 loopback


def test_parse_networks():
    assert parse_networks("") == ()
    assert parse_networks(" 10.0.0.0/8 ,, 192.168.7.5") == (ipaddress.ip_network("10.0.0.0/8"),
                                                            ipaddress.ip_network("192.168.7.5/32"))
    assert parse_networks("10.1.2.3/8") == (ipaddress.ip_network("10.0.0.0/8"),)  # host bits dropped
    with pytest.raises(ValueError, match="'10.0.0.0/33' is not an IP network in CIDR notation"):
        parse_networks("10.0.0.0/8,10.0.0.0/33")
    with pytest.raises(ValueError, match="'intranet'"):
        parse_networks("intranet")


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("http://ray.example.com:8265", ("http", "ray.example.com", 8265)),
    ("https://slurm.example.com/", ("https", "slurm.example.com", 443)),
    ("HTTP://[2400:3200::1]:6820", ("http", "2400:3200::1", 6820)),
    ("http://example.com.", ("http", "example.com", 80)),
])
def test_endpoint_host(endpoint, expected):
    assert endpoint_host(endpoint) == expected


@pytest.mark.parametrize(("endpoint", "error"), [
    ("ftp://example.com", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("http://", "names no host"),
    ("http://user:pw@example.com", "user name or password"),
    ("http://example.com:99999", "not a valid URL"),
    ("/tmp/jobs", "http:// or https://"),
])
def test_bad_endpoints_say_what_is_wrong(endpoint, error):
    with pytest.raises(ValueError, match=error):
        endpoint_host(endpoint)


ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@given(ipv4)
def test_an_allowed_ipv4_address_is_public_and_not_the_platforms(address):
    own = ipaddress.IPv4Address("59.110.1.2")  # a public address of the platform's machine
    reason = AddressPolicy.of((), [own]).refusal(address)
    if reason is None:
        assert address.is_global and address != own
        assert not (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                    or address.is_reserved or address.is_unspecified or address in addresses.CGNAT)
    else:  # Python counts multicast as global; it is refused all the same
        assert not address.is_global or address.is_multicast or address == own


@given(ipv4)
def test_ipv4_addresses_are_judged_the_same_behind_ipv6(address):
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1)
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address))
    expected = POLICY.refusal(address)
    assert POLICY.refusal(mapped) == expected
    assert POLICY.refusal(sixtofour) == expected
    assert POLICY.refusal(nat64) == expected


@given(ipv6)
def test_an_allowed_ipv6_address_is_global_or_leads_to_a_public_ipv4_address(address):
    if POLICY.refusal(address) is not None:
        return
    inner = addresses.embedded_ipv4(address)
    if inner is not None:
        assert POLICY.refusal(inner) is None
    else:
        assert address.is_global and not address.is_multicast and not address.is_reserved


@given(st.one_of(ipv4, ipv6), st.integers(0, 32))
def test_an_address_inside_an_allowed_network_is_always_allowed(address, prefix):
    network = ipaddress.ip_network(f"{address}/{prefix if address.version == 4 else prefix * 4}", strict=False)
    assert AddressPolicy.of([network], [address]).refusal(address) is None
