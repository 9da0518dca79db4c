"""Who may talk to the screen: only the kiosk's own browser.

The kiosk launches its browser on `launch_url` (the screen's address with a per-boot secret); the
first request trades the secret for an HttpOnly, SameSite=Strict cookie. Actions, the event stream
and the camera frame need that cookie. Every request must name an allowed host (so a DNS
rebinding page, whose requests say `Host: evil.example`, gets nothing), and a request that says
where it comes from (`Origin`) must come from the screen itself.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

SCREEN_COOKIE = "smilepay_screen"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def new_screen_secret() -> str:
    """A fresh per-boot screen secret."""
    return secrets.token_urlsafe(24)


def boot_secret(launch_url_file: Path | None) -> str:
    """The screen secret of this boot: the one in `launch_url_file` if the kiosk wrote it
    earlier since boot (keep the file on a tmpfs such as /run, so a reboot clears it and a
    kiosk restart keeps the browser's cookie valid), else a new one."""
    if launch_url_file is not None and launch_url_file.exists():
        query = urlsplit(launch_url_file.read_text(encoding="utf-8").strip()).query
        keys = parse_qs(query).get("key", [])
        if keys and len(keys[0]) >= 32:
            return keys[0]
    return new_screen_secret()


def write_launch_url(path: Path, url: str) -> None:
    """Write the launch URL for the screen's browser service: mode 0640 (its group may read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.fchmod(fd, 0o640)  # whatever the umask says
        os.write(fd, (url + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


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
