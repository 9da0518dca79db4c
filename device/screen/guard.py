"""Who may talk to the screen: only the kiosk's own browser.

The kiosk launches its browser on `launch_url` (the screen's address with a per-boot secret); the
first request trades the secret for an HttpOnly, SameSite=Strict cookie. Actions, the event stream
and the camera frame need that cookie. Every request must name an allowed host (so a DNS
rebinding page, whose requests say `Host: evil.example`, gets nothing), and a request that says
where it comes from (`Origin`) must come from the screen itself.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request

SCREEN_COOKIE = "smilepay_screen"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def new_screen_secret() -> str:
    """A fresh per-boot screen secret."""
    return secrets.token_urlsafe(24)


def host_name(host_header: str) -> str:
    """ "127.0.0.1" from "127.0.0.1:8080", "::1" from "[::1]:8080"."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class ScreenGuard:
    """Checks Host, Origin and the screen secret of each request."""

    def __init__(self, secret: str, host: str, extra_hosts: Iterable[str] = ()) -> None:
        self.secret = secret
        self.hosts = {n.lower() for n in (*LOOPBACK_NAMES, host, *extra_hosts) if n}
        self.hosts.discard("0.0.0.0")
        self.hosts.discard("::")

    def host_ok(self, request: Request) -> bool:
        """The request names one of the screen's own host names."""
        return host_name(request.headers.get("host", "")) in self.hosts

    def origin_ok(self, request: Request) -> bool:
        """No Origin (not a browser's cross-site request), or the screen's own origin."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        own = request.headers.get("host", "").lower()
        return parts.scheme in {"http", "https"} and parts.netloc.lower() == own

    def key_ok(self, candidate: str | None) -> bool:
        """`candidate` is this boot's secret (constant-time)."""
        return candidate is not None and hmac.compare_digest(candidate, self.secret)

    def trusted(self, request: Request) -> bool:
        """The request comes from the kiosk's own browser: right host, origin and cookie."""
        cookie = request.cookies.get(SCREEN_COOKIE)
        return self.host_ok(request) and self.origin_ok(request) and self.key_ok(cookie)
