"""What every request passes before routing: forwarded headers, the Host check, body size.

- Forwarded headers (`X-Forwarded-For/-Proto/-Host`, `Forwarded`) are believed only when
  the peer is a trusted proxy (`XDIAG_TRUSTED_PROXIES`, CIDRs); then the client address is
  the rightmost X-Forwarded-For entry that is not itself a trusted proxy. From anyone else
  they are removed before the app sees them, so no check downstream (Origin, secure
  cookies, rate limits, the agent's address) can be steered by a client.
- Host must be a name this service answers to (`allowed_hosts`): loopback names (any
  port), its bind address on its port, its public URL's host, and `XDIAG_ALLOWED_HOSTS`.
  A page on `rebind.attacker.example` whose name now resolves to 127.0.0.1 (DNS
  rebinding) gets 400, not an admin session on a service without access control.
  /healthz and /metrics answer any Host (they need no credentials either, and
  Kubernetes probes and Prometheus call them by pod IP).
- Bodies: each view declares the most it reads (`@accepts_body`); everything else reads
  at most `JSON_BODY_MAX`. A larger Content-Length is refused with 413 before a byte is
  read, a chunked body stops at the limit, and the connection is closed after a 413 so the
  server does not read the rest either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from xdiag.core.config import Settings
from xdiag.core.errors import BadHost, PayloadTooLarge
from xdiag.core.targets import IPNetwork, address, parse_networks

JSON_BODY_MAX = 16 * 1024  # sign-in, shares, captures, tokens: a few hundred bytes each
AGENT_BODY_MAX = 4 * 1024  # an agent's registration is ~400 bytes
UPLOAD = -1  # @accepts_body(UPLOAD): the configured upload limit (max_upload_bytes)
ANY_HOST_PATHS = ("/healthz", "/metrics")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
              "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")

F = TypeVar("F", bound=Callable[..., Any])


def accepts_body(max_bytes: int) -> Callable[[F], F]:
    """Declare the largest request body a view reads (UPLOAD: the upload limit)."""

    def mark(view: F) -> F:
        view.max_body = max_bytes  # type: ignore[attr-defined]
        return view

    return mark


# -- forwarded headers ----------------------------------------------------------


class TrustedProxies:
    """WSGI middleware: forwarded headers from trusted proxies applied, all others dropped.

    werkzeug's ProxyFix trusts a fixed number of hops from whoever connects; this trusts
    by address, so a client that reaches the service directly cannot pose as the proxy."""

    def __init__(self, app: Callable[..., Any], proxies: Iterable[IPNetwork]) -> None:
        self.app, self.proxies = app, tuple(proxies)

    def trusted(self, addr: str | None) -> bool:
        ip = address(addr or "")
        return ip is not None and any(ip in n for n in self.proxies)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get("REMOTE_ADDR")
        environ["xdiag.peer"] = peer
        if self.proxies and self.trusted(peer):
            hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            hops = [h for h in hops if address(h) is not None]
            client = next((h for h in reversed(hops) if not self.trusted(h)),
                          hops[0] if hops else peer)
            environ["REMOTE_ADDR"] = str(address(client or "") or client)
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            host = environ.get("HTTP_X_FORWARDED_HOST", "").split(",")[-1].strip()
            if host:
                environ["HTTP_HOST"] = host
        for name in _FORWARDED:  # applied above or not believed: either way, gone
            environ.pop(name, None)
        return self.app(environ, start_response)


# -- Host -----------------------------------------------------------------------


def _split_host(value: str) -> tuple[str, int | None]:
    """'Name:8791' -> ('name', 8791); '[::1]:80' -> ('::1', 80); no port -> None."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, sep, port = value.rpartition(":")
        if not sep:
            name, port = value, ""
    if port and not (port.isdigit() and len(port) <= 5):
        return value, -1  # malformed: matches nothing
    return name.rstrip("."), int(port) if port else None


class HostPolicy:
    """The Host header values this service answers to (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.any = False
        self.pairs: set[tuple[str, int | None]] = set()  # port None: the header had none
        self.any_port: set[str] = set()
        self.suffixes: list[str] = []
        ports: set[int | None] = {settings.port, None}
        if settings.public_url:
            url = urlsplit(settings.public_url)
            default = 443 if url.scheme == "https" else 80
            if url.hostname:
                port = url.port or default
                self.pairs |= {(url.hostname.lower(), port)} | (
                    {(url.hostname.lower(), None)} if port == default else set())
                ports.add(port)
        # Loopback names on any port: a rebinding page cannot send one (its Host is the
        # attacker's name), and an app served by a test or an embedding server on a port
        # of its own must answer its own loopback clients.
        self.any_port |= set(LOOPBACK_NAMES)
        bind = settings.host.strip("[]").lower()
        if bind not in ("", "0.0.0.0", "::"):
            self.pairs |= {(bind, p) for p in ports}
        for entry in filter(None, (e.strip().lower() for e in settings.allowed_hosts.split(","))):
            if entry == "*":
                self.any = True
            elif entry.startswith("."):
                self.suffixes.append(entry)
            elif _split_host(entry)[1] is None:
                self.any_port.add(_split_host(entry)[0])
            else:
                self.pairs.add(_split_host(entry))

    def allows(self, host_header: str) -> bool:
        if self.any:
            return True
        name, port = _split_host(host_header)
        return (name, port) in self.pairs or name in self.any_port or \
            any(name == s[1:] or name.endswith(s) for s in self.suffixes)


# -- wiring ---------------------------------------------------------------------


def _body_limit(app: Flask, settings: Settings) -> int:
    view = app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "max_body", JSON_BODY_MAX)
    return settings.max_upload_bytes + 16 * 1024 * 1024 if limit == UPLOAD else limit


def init_app(app: Flask, settings: Settings) -> None:
    """Install the middleware and the checks; call before any other before_request hook."""
    app.wsgi_app = TrustedProxies(app.wsgi_app,  # type: ignore[method-assign]
                                  parse_networks(settings.trusted_proxies))
    policies: dict[tuple[Any, ...], HostPolicy] = {}

    def host_policy() -> HostPolicy:
        # Rebuilt when the settings change (`serve` learns its port after binding).
        key = (settings.host, settings.port, settings.public_url, settings.allowed_hosts)
        if key not in policies:
            policies.clear()
            policies[key] = HostPolicy(settings)
        return policies[key]

    @app.before_request
    def _gate() -> None:
        if request.path not in ANY_HOST_PATHS and not host_policy().allows(request.host):
            raise BadHost(f"this service does not answer to the host name "
                          f"{request.host[:100]!r}: use its own address, or add the name to "
                          "XDIAG_ALLOWED_HOSTS (or XDIAG_PUBLIC_URL)")
        limit = _body_limit(current_app, settings)
        request.max_content_length = limit
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"request body of {request.content_length} bytes is over "
                                  f"this endpoint's limit of {limit} bytes")

    @app.after_request
    def _close_after_413(resp: Response) -> Response:
        # The body was not read: closing is cheaper than draining it (gunicorn would).
        if resp.status_code == 413:
            resp.headers["Connection"] = "close"
        return resp
