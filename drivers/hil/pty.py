"""A real pseudo-terminal that a test drives from the device's side.

The driver opens `path`, a symlink to the pty's slave that survives unplug/replug the way a
udev name (/dev/serial/by-id/...) does: `unplug()` closes the master and removes the link (reads
on the driver's side fail, reopening fails), `replug()` makes a new pty behind the same link.
"""

from __future__ import annotations

import os
import select
import time
import tty
from pathlib import Path


class PtyLine:
    """The device end of a serial line: write what the device sends, read what the host sent."""

    def __init__(self, link: Path) -> None:
        self.path = link
        self._master: int | None = None
        self._slave: int | None = None
        self.plug()

    @property
    def plugged(self) -> bool:
        """Whether the device is attached."""
        return self._master is not None

    def plug(self) -> None:
        """Attach the device: a fresh pty in raw mode behind `path`."""
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
        self._master, self._slave = master, slave
        self.path.unlink(missing_ok=True)
        self.path.symlink_to(os.ttyname(slave))

    def write(self, data: bytes) -> None:
        """Send bytes to the host, as the device would."""
        if self._master is None:
            raise OSError("the device is unplugged")
        os.write(self._master, data)

    def read(self, timeout_s: float, until: int = 1) -> bytes:
        """Bytes the host sent: return once `until` bytes arrived or `timeout_s` passed."""
        if self._master is None:
            raise OSError("the device is unplugged")
        deadline, received = time.monotonic() + timeout_s, b""
        while len(received) < until:
            remaining = max(deadline - time.monotonic(), 0.0)
            if not select.select([self._master], [], [], remaining)[0]:
                break
            received += os.read(self._master, 4096)
        return received

    def unplug(self) -> None:
        """Pull the cable: the link goes and the host's open port fails."""
        self.path.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    replug = plug
    close = unplug
