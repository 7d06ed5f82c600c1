"""Which host:port the service may dial: the target policy of registration and capture.

A capture opens TCP and gRPC connections to whatever the registry names, so the registry
is where an attacker would point the service at the metadata server or a private network
(SSRF). The policy:

- a target's address must lie in the allowed networks (`XDIAG_TARGET_NETWORKS`, CIDRs;
  loopback by default); link-local and cloud metadata addresses (169.254.0.0/16,
  fe80::/10, fd00:ec2::254, `metadata.google.internal`) are refused whatever the setting;
- an agent registers the address it calls from: the registered host must be the request's
  client address (behind trusted proxies, the real client's), loopback counting as one
  address. Only an admin, with `XDIAG_ALLOW_ARBITRARY_TARGETS`, may register another;
- names are resolved once, at registration, and the registry keeps the address, so a
  name that later resolves elsewhere (DNS rebinding) changes nothing; a capture checks
  every address again before it dials (the policy may have changed since).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from xdiag.core.errors import BadRequest, TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_NETWORKS = "127.0.0.0/8,::1/128"
# Never dialled, whatever XDIAG_TARGET_NETWORKS says: cloud metadata servers hand out
# credentials to anything that can reach them.
NEVER = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "0.0.0.0/8", "::/128",
    "224.0.0.0/4", "ff00::/8", "255.255.255.255/32"))
NEVER_NAMES = ("metadata", "metadata.google.internal", "metadata.goog",
               "instance-data", "instance-data.ec2.internal")
HOSTNAME_RE = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?"
_HOSTNAME = re.compile(HOSTNAME_RE)


def parse_networks(spec: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """'10.0.0.0/8, 127.0.0.1' -> networks; a malformed entry is a configuration error."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for part in filter(None, (p.strip() for p in parts)):
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not a network (CIDR such as 10.0.0.0/8 or an "
                             "address)") from None
    return tuple(out)


def address(text: str) -> IPAddress | None:
    """An IP address (IPv4-mapped IPv6 as IPv4), or None for anything else."""
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def check_host_syntax(host: object) -> str:
    """`host` if it is an IP address or a DNS name (syntax only), else BadRequest."""
    if not isinstance(host, str) or not host:
        raise BadRequest("registration needs 'host', the address the service can dial")
    if address(host) is not None:
        return host
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        raise BadRequest(f"host {host[:80]!r} is neither an IP address nor a hostname")
    return host


def same_machine(a: IPAddress, b: IPAddress) -> bool:
    return a == b or (a.is_loopback and b.is_loopback)


class TargetPolicy:
    def __init__(self, networks: str | Iterable[str] = DEFAULT_NETWORKS) -> None:
        self.networks = parse_networks(networks)

    def describe(self) -> str:
        return ", ".join(str(n) for n in self.networks) or "none"

    def check_address(self, ip: IPAddress, shown: str) -> IPAddress:
        if any(ip in n for n in NEVER):
            raise TargetRefused(f"{shown} is a link-local or metadata address: the service "
                                "never connects there")
        if not any(ip in n for n in self.networks):
            raise TargetRefused(f"{shown} is outside the networks this service may connect to "
                                f"({self.describe()}; XDIAG_TARGET_NETWORKS)")
        return ip

    def resolve(self, host: str) -> list[IPAddress]:
        """Every address of `host` (an IP or a name), each checked against the policy."""
        host = check_host_syntax(host)
        ip = address(host)
        if ip is not None:
            return [self.check_address(ip, host)]
        if host.lower().rstrip(".") in NEVER_NAMES:
            raise TargetRefused(f"{host} is a metadata server: the service never connects there")
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise TargetRefused(f"{host} does not resolve: register an IP address") from None
        ips = list(dict.fromkeys(a for a in (address(str(i[4][0])) for i in infos) if a))
        if not ips:
            raise TargetRefused(f"{host} does not resolve: register an IP address")
        return [self.check_address(a, f"{host} ({a})") for a in ips]

    def registration_host(self, host: str, client: str | None, *, any_source: bool) -> str:
        """The address to keep for an agent registering `host` from `client`.

        `any_source` (an admin with XDIAG_ALLOW_ARBITRARY_TARGETS) lifts only the
        same-address rule, never the networks."""
        ips = self.resolve(host)
        peer = address(client or "")
        if peer is not None:
            match = next((ip for ip in ips if same_machine(ip, peer)), None)
            if match is not None:
                return str(match)
        if any_source:
            return str(ips[0])
        raise TargetRefused(
            f"an agent registers the address it calls from: this request came from "
            f"{client or 'an unknown address'}, not {host} (set XDIAG_AGENT_HOST to the "
            "address the service sees, or configure XDIAG_TRUSTED_PROXIES if a proxy is in "
            "between)")

    def dial_address(self, host: str, port: int) -> str:
        """'ip:port' for a capture to dial, after checking the policy again."""
        ip = self.resolve(host)[0]
        return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
