"""Opening a data directory's queue from the command line: its key, its device id, its limits."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from base.errors import SmilepayError
from base.keys import create_key_file, load_key_file
from base.limits import OfflineLimits
from sync.queue.sale_queue import SaleQueue, recorded_device_id

KEY_PATH = Path("keys/device_ed25519.key")
DEVICE_FILE = "device.json"


def device_id_for(data_dir: Path) -> str:
    """The device id from `device.json` (written by `smilepay device init`), else the id the
    database was created with, else a new one (kept in the database's state from then on)."""
    device_file = data_dir / DEVICE_FILE
    if device_file.exists():
        try:
            return str(json.loads(device_file.read_text())["device_id"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SmilepayError(f"{device_file}: cannot read device_id ({exc})") from None
    return recorded_device_id(data_dir) or f"standalone-{uuid.uuid4()}"


def create_key_atomically(path: Path) -> Ed25519PrivateKey:
    """Create the device key so that a crash never leaves a partial key file behind: write it
    under a temporary name, then link it into place (never replacing an existing key)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    create_key_file(temporary)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first: theirs is the device's key
    finally:
        temporary.unlink()
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return load_key_file(path)


def open_standalone(
    data_dir: Path, *, create_key: bool, limits: OfflineLimits | None = None
) -> SaleQueue:
    """Open the queue in `data_dir` with its device key (created if missing and `create_key`)."""
    key_path = data_dir / KEY_PATH
    if create_key and not key_path.exists():
        create_key_atomically(key_path)
    key = load_key_file(key_path)
    return SaleQueue.open(
        data_dir,
        device_id=device_id_for(data_dir),
        signing_key=key,
        limits=limits or OfflineLimits(),
    )
