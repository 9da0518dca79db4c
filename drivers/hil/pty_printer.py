"""An ESC/POS printer played on the device side of a real pseudo-terminal.

It answers the real-time status queries the way a printer does (DLE EOT 1: online byte, DLE EOT
4: paper byte) and keeps every other byte as printed output, so the real EscposPrinter driver can
be tested over a real serial line: paper out, cover open, powered off (silent), unplugged.
"""

from __future__ import annotations

import threading
from pathlib import Path

from drivers.hil.pty import PtyLine

STATUS_QUERY = b"\x10\x04"
ONLINE_REPLY, COVER_OPEN_REPLY = 0x12, 0x1A  # bits 1 and 4 are always set; bit 3: off line
PAPER_OK_REPLY, PAPER_OUT_REPLY = 0x12, 0x72  # bits 5-6: roll paper end


class PtyPrinterDevice:
    """A printer on a pty: `output` is what was printed; flags set its state."""

    def __init__(self, link: Path) -> None:
        self.line = PtyLine(link)
        self.paper_out = False
        self.cover_open = False
        self.powered = True
        self._received = b""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-printer", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        """The port the driver opens."""
        return self.line.path

    @property
    def output(self) -> bytes:
        """Everything received except the status queries."""
        with self._lock:
            return self._received.replace(STATUS_QUERY + b"\x01", b"").replace(
                STATUS_QUERY + b"\x04", b""
            )

    def unplug(self) -> None:
        """Pull the cable."""
        with self._lock:
            self.line.unplug()

    def replug(self) -> None:
        """Plug the cable back in."""
        with self._lock:
            self.line.replug()

    def close(self) -> None:
        """Stop serving and pull the cable."""
        self._stop.set()
        self._thread.join(2)
        self.line.close()

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            with self._lock:
                chunk = self.line.read(0.0) if self.line.plugged else b""
                self._received += chunk
            pending = self._answer(pending + chunk)
            if not chunk:
                self._stop.wait(0.005)

    def _answer(self, data: bytes) -> bytes:
        while (start := data.find(STATUS_QUERY)) >= 0 and len(data) > start + 2:
            self._reply(data[start + 2])
            data = data[start + 3 :]
        # Keep a possible half query for the next chunk; the rest was print data.
        return data[-2:] if STATUS_QUERY[:1] in data[-2:] else b""

    def _reply(self, kind: int) -> None:
        if not self.powered:
            return
        if kind == 1:
            reply = COVER_OPEN_REPLY if self.cover_open else ONLINE_REPLY
        else:
            reply = PAPER_OUT_REPLY if self.paper_out else PAPER_OK_REPLY
        with self._lock:
            if self.line.plugged:
                self.line.write(bytes([reply]))
