"""Who this device is: its Ed25519 key file and `device.json`, and registration with the ledger."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base import keys
from base.errors import SmilepayError
from base.private_files import private_dir
from sync.agent.client import LedgerClient
from sync.agent.config import SyncConfig

KEY_PATH = Path("keys/device_ed25519.key")
IDENTITY_FILE = "device.json"


class IdentityError(SmilepayError):
    """device.json is missing or malformed."""


@dataclass(frozen=True)
class DeviceRecord:
    """The contents of `device.json`."""

    device_id: str
    ledger_url: str
    merchant_id: str
    store_id: str


@dataclass(frozen=True)
class DeviceIdentity:
    """A device's id, ledger, merchant, store and signing key, as stored in its data directory."""

    data_dir: Path
    record: DeviceRecord
    key: Ed25519PrivateKey

    @property
    def device_id(self) -> str:
        """The device's UUID."""
        return self.record.device_id

    @property
    def ledger_url(self) -> str:
        """Where the device's ledger is."""
        return self.record.ledger_url

    @classmethod
    def load(cls, data_dir: Path) -> DeviceIdentity:
        """Read `device.json` and the key file; raise a clear error if either is missing/bad."""
        return cls(data_dir, read_record(data_dir), keys.load_key_file(data_dir / KEY_PATH))


def read_record(data_dir: Path) -> DeviceRecord:
    """Parse `<data_dir>/device.json`."""
    path = data_dir / IDENTITY_FILE
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IdentityError(f"{path}: no device identity (run `smilepay device init`)") from None
    except (OSError, ValueError) as exc:
        raise IdentityError(f"{path}: cannot read: {exc}") from None
    try:
        return DeviceRecord(**{f: str(data[f]) for f in DeviceRecord.__dataclass_fields__})
    except (KeyError, TypeError) as exc:
        raise IdentityError(f"{path}: missing field {exc}") from None


def write_record(data_dir: Path, record: DeviceRecord) -> None:
    """Write `device.json` atomically (temp file, fsync, rename) so a crash never leaves half."""
    path = data_dir / IDENTITY_FILE
    temp = path.with_suffix(".json.tmp")
    with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(asdict(record), out, indent=2)
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)


def init_device(
    data_dir: Path,
    ledger_url: str,
    *,
    merchant_id: str = "demo-merchant",
    store_id: str = "demo-store",
    name: str = "Demo kiosk",
    registration_token: str | None = None,
    config: SyncConfig | None = None,
) -> DeviceIdentity:
    """Create (or reuse) the device key and id, write `device.json`, register with the ledger.

    Running it again with the same key re-registers harmlessly; an existing key is never
    overwritten, and an existing device id is kept.
    """
    private_dir(data_dir)
    key = _existing_or_new_key(data_dir / KEY_PATH)
    device_id = _existing_device_id(data_dir) or str(uuid.uuid4())
    record = DeviceRecord(device_id, ledger_url, merchant_id, store_id)
    # Written before registering so a retry after a failed registration keeps the same id.
    write_record(data_dir, record)
    with LedgerClient(ledger_url, device_id, key, config) as client:
        client.register(keys.public_key_b64(key), merchant_id, store_id, name, registration_token)
    return DeviceIdentity(data_dir, record, key)


def _existing_or_new_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return keys.load_key_file(path)
    return keys.create_key_file(path)


def _existing_device_id(data_dir: Path) -> str | None:
    if not (data_dir / IDENTITY_FILE).exists():
        return None
    return read_record(data_dir).device_id
