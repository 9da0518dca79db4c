"""systemd's notify protocol with the standard library: one datagram per message to
$NOTIFY_SOCKET. Outside systemd (no $NOTIFY_SOCKET) every call is a no-op."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def _address(path: str) -> str:
    # A leading "@" names a socket in the abstract namespace (Linux), written with a NUL byte.
    return "\0" + path[1:] if path.startswith("@") else path


class SdNotifier:
    """Sends READY=1, WATCHDOG=1, STOPPING=1 and STATUS=... to the service manager."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = env.get("NOTIFY_SOCKET") or None
        self.watchdog_interval_s = watchdog_interval_s(env)

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening."""
        return self.socket_path is not None

    def notify(self, *assignments: str) -> bool:
        """Send `KEY=value` lines as one message; False if nobody listens or sending failed."""
        if self.socket_path is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.sendto(message, _address(self.socket_path))
            except OSError:
                return False  # the manager went away: a service must not die of that
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """The main loop is alive and healthy."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line status shown by `systemctl status`."""
        return self.notify(f"STATUS={text}")


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """How often to ping: half of $WATCHDOG_USEC, or None when no watchdog is set for this
    process ($WATCHDOG_PID, when present, must be ours)."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid is not None and pid != str(os.getpid()):
        return None
    return int(usec) / 2_000_000
