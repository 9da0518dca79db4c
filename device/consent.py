"""Face-payment consent records, kept durably on the kiosk (one JSON line each, fsynced, 0600).

A record says which consent text (version) the customer agreed to, when, on which kiosk, and for
which sale. It holds no face data and no name: at that moment the customer is not yet known.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from base.errors import SmilepayError

# The consent text's version: bump it (and the screen's consent strings) whenever the text
# changes, so every record names the words the customer actually read.
CONSENT_VERSION = "face-pay-v1"
CONSENT_FILE = "consent.jsonl"


class ConsentLog:
    """Append-only log of consent records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, version: str, device_id: str, sale_id: str | None) -> dict[str, object]:
        """Append one record and make it durable before returning it."""
        if version != CONSENT_VERSION:
            raise SmilepayError(f"consent version {version!r} is not the current one")
        record: dict[str, object] = {
            "purpose": "face_payment",
            "version": version,
            "device_id": device_id,
            "sale_id": sale_id,
            "agreed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return record

    def records(self) -> list[dict[str, object]]:
        """Every record, oldest first."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
